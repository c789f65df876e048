"""An app server process for the shared-fallback tests: writes its records
through a RedisStreamLog whose fallback path it shares with other processes
(run by multiprocessing, so it imports only what it needs)."""

from __future__ import annotations

import sys
import time

from manhattan.log import fallback as fb
from manhattan.log.redisstream import RedisStreamLog


def record(worker: int, n: int) -> list[str]:
    return ["1", "page", f"{n}.0000", f"p{worker}", "0", f"/{n}"]


def write(url: str, stream: str, fallback: str, worker: int, count: int) -> None:
    """Write ``count`` records, a little apart, then send the backlog; exit
    status 0 only if all of it was sent."""
    # Quick retries, so a short test sees Redis come back at once.
    fb.RETRY_SECONDS, fb.MAX_RETRY_SECONDS, fb.IDLE_CHECK_SECONDS = 0.05, 0.2, 0.1
    fb.RESEND_CHUNK = 50
    # A timeout long enough that only the kill loses a reply (see the test).
    log = RedisStreamLog(url, stream, fallback=fallback, socket_timeout=2.0)
    for n in range(count):
        log.write([record(worker, n)])
        time.sleep(0.0005)
    sent = log.flush(timeout=30)
    log.close()
    sys.exit(0 if sent else 1)
