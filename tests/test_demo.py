"""`make demo` end to end, small: the shop, its visitors, the server, the table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_counts_people_and_not_bots(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo.run",
            "--people",
            "30",
            "--bots",
            "8",
            "--data",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "30 people and 8 bots" in out
    for test in ("Checkout Button", "Free Shipping Banner"):
        assert f"\n{test}\n" in out
    # Every person viewed a page and was put in one population of each test.
    visitors = re.search(r"Checkout Button\n.*\n  visitors\s+([\d,]+)\s+([\d,]+)", out)
    assert visitors is not None
    assert sum(int(n.replace(",", "")) for n in visitors.groups()) == 30
    assert "all sites: 30 visitors viewed a page" in out
    assert (tmp_path / "manhattan.db").exists()
    assert "Checkout Button  (control: green)" in out  # the analysis ends it
    assert "sample ratio: " in out
