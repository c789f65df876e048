"""What the log server's tests share: records, entries, reading the log back."""

from __future__ import annotations

import json
from pathlib import Path

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.logserver.server import LogServer

WAIT = 10.0  # seconds a bounded poll may take before the test fails


def record(batch: int, index: int) -> list[str]:
    return ["1", "page", f"{1_700_000_000 + batch}.5", f"v{batch}", "0", f"/{batch}/{index}"]


def line(rec: list[str]) -> bytes:
    return ("\t".join(rec) + "\n").encode()


def entry(*records: list[str]) -> bytes:
    return json.dumps(list(records)).encode()


def read_log(path: Path) -> list[list[str]]:
    return [rec for rec, _ in TimeRotatingLog(path).process()]


def drain(server: LogServer) -> None:
    """Cycle until both lists are empty (a cycle with entries never waits)."""
    client = server.client
    while client.llen(server.key) or client.llen(server.processing):
        assert server.cycle()
