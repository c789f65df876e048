"""What importing a module loads, seen from a fresh interpreter (a test
process has imported too much to tell)."""

from __future__ import annotations

import subprocess
import sys


def loaded_by(module: str) -> set[str]:
    """The modules ``import module`` loads in a fresh interpreter (what the
    interpreter's site hooks load before the import is not counted)."""
    code = (
        "import sys; before = set(sys.modules); import "
        + module
        + "; print(' '.join(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())
