"""Every module imports on its own, first, in a fresh interpreter.

Import cycles only show when a module is the first one imported, which a
test suite that imports everything up front never sees.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from importlib import metadata

import pytest

import manhattan
from tests.loading import loaded_by

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(manhattan.__path__, prefix="manhattan.")
)


@pytest.mark.parametrize("module", [pytest.param(name, id=name) for name in MODULES])
def test_module_imports_first(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:manhattan", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# What `pip install manhattan` (WebOb only) must be enough for.
FRONTEND = [
    "manhattan",
    "manhattan.middleware",
    "manhattan.asgi",
    "manhattan.visitor",
    "manhattan.log",
    "manhattan.log.timerotating",
]


@pytest.mark.parametrize("module", [pytest.param(name, id=name) for name in FRONTEND])
def test_frontend_imports_nothing_but_webob(module: str) -> None:
    loaded = {name.partition(".")[0] for name in loaded_by(module)}
    assert loaded - set(sys.stdlib_module_names) <= {"manhattan", "webob"}
    assert loaded.isdisjoint({"sqlalchemy", "zmq", "redis", "jinja2", "ua_parser"})


def test_version_is_the_installed_distributions() -> None:
    assert manhattan.__version__ == metadata.version("manhattan")


def test_version_of_a_tree_never_installed() -> None:
    assert manhattan._version("manhattan-no-such-distribution") == "0+unknown"


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'manhattan' has no attribute 'version'"):
        getattr(manhattan, "version")  # noqa: B009
