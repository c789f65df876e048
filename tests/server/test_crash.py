"""kill -9 at random moments, restart, repeat: the counts end exactly as an
uninterrupted run's. Nothing lost, nothing counted twice.

The server is a real process (``python -m manhattan.server --once``) over a
real log into a SQLite file; the database is read back with the sqlite3
module, independently of the store's own queries.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.visitor.records import goal_record, page_record, pixel_record, split_record

START = 1_764_000_000.0


def write_log(path: Path, events: int, visitors: int, seed: int) -> None:
    """A mixed stream: pages, pixels (most visitors), goals with values, splits."""
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(160):040x}" for _ in range(visitors)]
    now = [START]
    log = TimeRotatingLog(path, clock=lambda: now[0])
    batch: list[list[str]] = []
    for i in range(events):
        now[0] = START + i * 7.3  # about 2.5 days: several hour files and day buckets
        vid = ids[min(int(rng.expovariate(1 / visitors * 4)), visitors - 1)]
        stamp, site = f"{now[0]:0.4f}", str(1 + int(vid, 16) % 2)
        roll = rng.random()
        if roll < 0.65:
            agent = "Googlebot/2.1" if int(vid, 16) % 17 == 0 else "Mozilla/5.0 Firefox/133.0"
            batch.append(
                page_record(stamp, vid, site, "198.51.100.4", "GET", "http://x/", agent, "")
            )
        elif roll < 0.75:
            batch.append(pixel_record(stamp, vid, site))
        elif roll < 0.9:
            name = rng.choice(["Added To Cart", "Began Checkout", "Purchased"])
            value = rng.choice(["", "9.5", "12", "30"])
            batch.append(goal_record(stamp, vid, site, name, value, "S" if value else "", ""))
        else:
            test = rng.choice(["Button", "Banner"])
            batch.append(split_record(stamp, vid, site, test, str(int(vid, 16) % 3)))
        if len(batch) == 500:
            log.write(batch)
            batch = []
    log.write(batch)
    with open(f"{path}.{int(START) // 3600 * 3600}", "ab") as garbage:
        garbage.write(b"not a record\n")  # a bad line, to be skipped once


def dump(database: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(database) as connection:
        return {
            "counts": connection.execute(
                "SELECT rollup, bucket, site, goal, test, population, visitors, value_total,"
                " value_sumsq FROM counts WHERE visitors != 0 OR value_total != 0"
                " ORDER BY 1, 2, 3, 4, 5, 6"
            ).fetchall(),
            "goals": connection.execute("SELECT * FROM goals ORDER BY name").fetchall(),
            "tests": connection.execute("SELECT * FROM tests ORDER BY name").fetchall(),
            "filtered": connection.execute(
                "SELECT reason, events FROM filtered WHERE events != 0 ORDER BY reason"
            ).fetchall(),
        }


def stored_pointer(database: Path) -> str | None:
    """The committed log pointer; ``None`` before the first commit."""
    try:
        # Read-only: never create the file the server is about to create.
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:  # no database yet
        return None
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'pointer'").fetchone()
    except sqlite3.OperationalError:  # no tables yet
        return None
    finally:
        connection.close()
    return None if row is None else str(row[0])


def server(log: Path, database: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "manhattan.server",
        "--path",
        str(log),
        "--url",
        f"sqlite:///{database}",
        "--complex",
        "Abandoned Cart|Added To Cart|Began Checkout",
        "--once",
        *extra,
    ]


@pytest.mark.timeout(240)
def test_kill_9_at_random_points_then_restart_counts_exactly_once(tmp_path: Path) -> None:
    log = tmp_path / "log" / "events"
    write_log(log, events=60_000, visitors=4_000, seed=11)
    reference = tmp_path / "reference.db"
    subprocess.run(server(log, reference), check=True, timeout=120)
    expected = dump(reference)
    assert expected["counts"]
    assert expected["filtered"]

    crashed = tmp_path / "crashed.db"
    rng = random.Random(5)
    kills = 0
    pointers = [None]
    while kills < 8:
        child = subprocess.Popen(server(log, crashed, "--flush-every", "1500"))
        # Kill at a random moment after the next commit: mid-run, with
        # events counted since that commit and lost with the process.
        deadline = time.monotonic() + 60
        while child.poll() is None and stored_pointer(crashed) == pointers[-1]:
            assert time.monotonic() < deadline, "no commit seen"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        if child.poll() is not None:
            assert child.returncode == 0
            break
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        kills += 1
        pointers.append(stored_pointer(crashed))
    # The last run may have finished without a kill; finish for sure, then compare.
    subprocess.run(server(log, crashed), check=True, timeout=120)
    assert kills >= 3, "kill -9 should have struck several times"
    assert len(set(pointers[1:])) >= 3, "kills should land after different commits"
    assert dump(crashed) == expected
