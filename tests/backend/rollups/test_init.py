"""Tests of manhattan.backend.rollups (the package's ``__init__``)."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from manhattan.backend import model, rollups
from manhattan.backend.rollups import agents, campaigns, loading, timed, visits

# The public API the single-module rollups had, and where each name now lives.
PUBLIC_API = {
    "BUILTIN_NAMES": loading,
    "NO_CAMPAIGN": campaigns,
    "UA_CACHE_SIZE": agents,
    "AllRollup": visits,
    "BrowserRollup": agents,
    "BrowserVersionRollup": agents,
    "DayRollup": timed,
    "FunctionRollup": visits,
    "HourRollup": timed,
    "MonthRollup": timed,
    "NetworkRollup": visits,
    "ReferrerRollup": visits,
    "RollupConfig": loading,
    "RollupSpec": loading,
    "UserAgentInfo": agents,
    "UtmCampaignRollup": campaigns,
    "UtmMediumRollup": campaigns,
    "UtmSourceRollup": campaigns,
    "UtmValues": campaigns,
    "WeekRollup": timed,
    "build_rollups": loading,
    "default_rollups": loading,
    "is_crawler": agents,
    "load_rollup": loading,
    "referrer_host": visits,
    "user_agent_info": agents,
    "utm_values": campaigns,
}


# The protocols a user's rollup implements, declared with the backend's types.
PROTOCOLS = ["PeriodicRollup", "Rollup"]


def test_the_package_exports_the_whole_public_api() -> None:
    assert sorted(rollups.__all__) == sorted([*PUBLIC_API, *PROTOCOLS])


@pytest.mark.parametrize("name", PROTOCOLS)
def test_the_protocols_are_the_backends(name: str) -> None:
    assert getattr(rollups, name) is getattr(model, name)


@pytest.mark.parametrize(
    ("name", "module"),
    [pytest.param(name, module, id=name) for name, module in PUBLIC_API.items()],
)
def test_each_public_name_is_its_module_object(name: str, module: ModuleType) -> None:
    assert name in module.__all__
    assert getattr(rollups, name) is getattr(module, name)


def test_the_submodules_export_nothing_else() -> None:
    exported = [
        name for module in (agents, campaigns, loading, timed, visits) for name in module.__all__
    ]
    assert sorted(exported) == sorted(PUBLIC_API)


@pytest.mark.parametrize("name", rollups.BUILTIN_NAMES)
def test_the_package_text_documents_every_built_in_rollup(name: str) -> None:
    assert rollups.__doc__ is not None
    # Definition terms: unindented lines of ``name`` (a few share a line).
    terms = [
        term
        for line in rollups.__doc__.splitlines()
        if line.startswith("``")
        for term in re.findall(r"``(\w+)``", line)
    ]
    assert name in terms
