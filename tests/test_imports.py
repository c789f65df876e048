"""Every module imports on its own, first, in a fresh interpreter.

Import cycles only show when a module is the first one imported, which a
test suite that imports everything up front never sees.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import manhattan

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
