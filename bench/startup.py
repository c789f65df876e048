"""Start-up benchmark: how long ``--help`` of the console scripts takes.

Run: ``.venv/bin/python bench/startup.py [--runs N] [--scripts NAME ...]``.
Each script (from the folder of this interpreter, as installed in the
venv) runs ``--help`` N times, interleaved with ``python -c pass`` (the
baseline: the interpreter's own start-up, timed in the same runs so that a
busy machine slows both). Prints the median wall time of each and its
ratio to the baseline's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SCRIPTS = ["manhattan-server", "manhattan-report", "manhattan-dashboard"]
TARGET_SECONDS = 0.25


def wall_time(command: Sequence[str]) -> float:
    """Seconds ``command`` takes to run to its end (its output discarded)."""
    began = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """The median wall time of each of ``commands``, run in turn ``runs`` times."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(wall_time(command))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--scripts", nargs="+", default=SCRIPTS, help="console scripts to time")
    args = parser.parse_args(argv)
    folder = Path(sys.executable).parent
    commands = {"python -c pass (baseline)": [sys.executable, "-c", "pass"]}
    for script in args.scripts:
        commands[f"{script} --help"] = [str(folder / script), "--help"]
    results = medians(commands, args.runs)
    baseline = results["python -c pass (baseline)"]
    print(f"median of {args.runs} runs:")
    for name, seconds in results.items():
        print(f"  {name:<32} {seconds:6.3f} s  {seconds / baseline:5.1f}x")
    slowest = max(seconds for name, seconds in results.items() if "baseline" not in name)
    verdict = "met" if slowest <= TARGET_SECONDS else "missed"
    print(f"  target: --help <= {TARGET_SECONDS} s   {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
