"""Opening an SQLite store while another process holds a lock on the new
file: the switch to WAL waits for it (``engine.WAL_WAIT``) instead of
failing at once."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from manhattan.backend.persistence import SQLStore, StoreError, engine


@contextmanager
def creating(path: Path, seconds: float) -> Iterator[None]:
    """Another connection creating ``path`` (a new file, not yet in WAL mode)
    holds its write lock for ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE theirs (x)")
    done = threading.Timer(seconds, other.execute, ("COMMIT",))
    done.start()
    try:
        yield
    finally:
        done.join()
        other.close()


def test_a_store_opened_while_another_process_creates_the_file_waits(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with creating(path, 0.3), SQLStore(f"sqlite:///{path}") as store:
        assert store.load_pointer() is None
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_lock_held_past_the_wait_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "WAL_WAIT", 0.1)
    path = tmp_path / "m.db"
    with creating(path, 0.5), pytest.raises(StoreError, match="database is locked"):
        SQLStore(f"sqlite:///{path}")
