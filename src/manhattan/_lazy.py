"""Names a package exports without importing their modules until first use,
so that importing the package (or any module in it) stays cheap.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: each name
    of ``homes`` (name -> the module that defines it) is imported on first
    use and kept in the package; any other name is an ``AttributeError``.

    Use: ``__getattr__, __dir__ = exports(__name__, {...})``, with the
    same names imported under ``TYPE_CHECKING`` for the type checker.
    """

    def attribute(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return attribute, names
