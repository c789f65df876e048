"""``import manhattan.dashboard`` loads what a client of the query socket
needs, and nothing of the server: no SQLAlchemy, no store, no counting;
its public names load on first use."""

from __future__ import annotations

import importlib

import pytest

from manhattan import dashboard
from tests.loading import loaded_by

SERVER_SIDE = (
    "sqlalchemy",
    "ua_parser",
    "redis",
    "manhattan.backend.persistence",
    "manhattan.backend.aggregate",
    "manhattan.backend.guard",
    "manhattan.backend.fields",
    "manhattan.analysis.report",
    "manhattan.server",
)


@pytest.mark.parametrize(
    "module",
    [
        pytest.param("manhattan.dashboard", id="package"),
        pytest.param("manhattan.dashboard.cli", id="cli"),
    ],
)
def test_the_dashboard_loads_nothing_of_the_server(module: str) -> None:
    loaded = loaded_by(module)

    assert module in loaded  # the probe works
    assert not {name for name in loaded if name.startswith(SERVER_SIDE)}


@pytest.mark.parametrize(
    ("name", "home"),
    [
        pytest.param("make_app", "manhattan.dashboard.app", id="make_app"),
        pytest.param("Dashboard", "manhattan.dashboard.app", id="Dashboard"),
        pytest.param("make_server", "manhattan.dashboard.server", id="make_server"),
    ],
)
def test_the_public_names_load_on_first_use(name: str, home: str) -> None:
    assert getattr(dashboard, name) is getattr(importlib.import_module(home), name)
    assert name in dir(dashboard)
    assert name in dashboard.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"dashboard' has no attribute 'app_maker'"):
        getattr(dashboard, "app_maker")  # noqa: B009
