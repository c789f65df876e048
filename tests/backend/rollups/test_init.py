"""Tests of manhattan.backend.rollups (the package's ``__init__``)."""

from __future__ import annotations

from types import ModuleType

import pytest

from manhattan.backend import rollups
from manhattan.backend.rollups import agents, loading, timed, visits

# The public API the single-module rollups had, and where each name now lives.
PUBLIC_API = {
    "BUILTIN_NAMES": loading,
    "UA_CACHE_SIZE": agents,
    "AllRollup": visits,
    "BrowserRollup": agents,
    "BrowserVersionRollup": agents,
    "DayRollup": timed,
    "FunctionRollup": visits,
    "MonthRollup": timed,
    "NetworkRollup": visits,
    "ReferrerRollup": visits,
    "RollupConfig": loading,
    "RollupSpec": loading,
    "UserAgentInfo": agents,
    "WeekRollup": timed,
    "build_rollups": loading,
    "default_rollups": loading,
    "is_crawler": agents,
    "load_rollup": loading,
    "referrer_host": visits,
    "user_agent_info": agents,
}


def test_the_package_exports_the_whole_public_api() -> None:
    assert sorted(rollups.__all__) == sorted(PUBLIC_API)


@pytest.mark.parametrize(
    ("name", "module"),
    [pytest.param(name, module, id=name) for name, module in PUBLIC_API.items()],
)
def test_each_public_name_is_its_module_object(name: str, module: ModuleType) -> None:
    assert name in module.__all__
    assert getattr(rollups, name) is getattr(module, name)


def test_the_submodules_export_nothing_else() -> None:
    exported = [name for module in (agents, loading, timed, visits) for name in module.__all__]
    assert sorted(exported) == sorted(PUBLIC_API)


@pytest.mark.parametrize(
    "name",
    ["all", "day", "week", "month", "browser", "browser_version", "referrer", "network"],
)
def test_the_package_text_documents_every_built_in_rollup(name: str) -> None:
    assert rollups.__doc__ is not None
    assert f"\n``{name}``\n" in rollups.__doc__
