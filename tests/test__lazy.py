"""_lazy.exports: a package's names imported on first use, then kept."""

from __future__ import annotations

import sys
import types

import pytest

from manhattan import _lazy

HOMES = {"dumps": "json", "JSONDecodeError": "json.decoder"}


@pytest.fixture
def package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A package whose ``__getattr__`` and ``__dir__`` come from exports()."""
    module = types.ModuleType("lazy_probe")
    module.__getattr__, module.__dir__ = _lazy.exports("lazy_probe", HOMES)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lazy_probe", module)
    return module


@pytest.mark.parametrize(("name", "home"), [pytest.param(n, h, id=n) for n, h in HOMES.items()])
def test_a_name_is_imported_on_first_use_and_kept(
    package: types.ModuleType, name: str, home: str
) -> None:
    assert name not in vars(package)

    value = getattr(package, name)

    assert value is getattr(sys.modules[home], name)
    assert vars(package)[name] is value  # later look-ups skip __getattr__


def test_dir_lists_the_names_before_they_load(package: types.ModuleType) -> None:
    assert set(HOMES) <= set(dir(package))
    assert "__name__" in dir(package)


def test_another_name_is_an_attribute_error(package: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="module 'lazy_probe' has no attribute 'loads'"):
        getattr(package, "loads")  # noqa: B009
