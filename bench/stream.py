"""A generated log for the backend benchmarks: visitors in overlapping sessions.

``write_stream(path, events, visitors)`` writes about ``events`` records
from ``visitors`` visitors into a TimeRotatingLog at ``path``: 70% pages,
10% pixels, 12% goals, 8% splits, 2 sites, 3 tests, spread over three days
so the day and week rollups have several buckets. About 10% of visitors are
bots that never load the pixel. Deterministic for a given seed. With
``campaigns``, that share of page URLs carries UTM parameters.
"""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.visitor.records import (
    format_timestamp,
    goal_record,
    page_record,
    pixel_record,
    split_record,
)

START = 1_763_600_000.0  # 2025-11-20
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
]
REFERRERS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/item?id=1"]
TESTS = {
    "Checkout Button": ["green", "orange"],
    "Banner": ["True", "False"],
    "Price": ["9", "12", "15"],
}
GOALS = [("Added To Cart", "S"), ("Began Checkout", ""), ("Purchased", "S"), ("Signed Up", "")]
CAMPAIGNS = [
    "utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
    "utm_source=google&utm_medium=cpc&utm_campaign=Brand%20Terms&gclid=Cj0KCQiA",
    "utm_source=Twitter&utm_medium=social&utm_campaign=launch+week",
]


def write_stream(
    path: Path, events: int, visitors: int, seed: int = 7, campaigns: float = 0.0
) -> int:
    """Write the stream; returns the number of records written."""
    rng = random.Random(seed)
    clock = [START]
    log = TimeRotatingLog(path, clock=lambda: clock[0])
    span = 3 * 86_400
    step = span / events
    per_visitor = events / visitors
    ids = [f"{rng.getrandbits(160):040x}" for _ in range(visitors)]
    arrivals = deque(ids)
    active: list[list[object]] = []  # [vid, events left, site, agent, is_bot]
    written = 0
    batch: list[list[str]] = []
    now = START
    while written < events:
        if not arrivals and len(active) < 300:
            arrivals.append(rng.choice(ids))  # a returning visitor's new session
        while arrivals and len(active) < 300:
            left = max(1, int(rng.expovariate(1 / per_visitor)))
            active.append(
                [
                    arrivals.popleft(),
                    left,
                    str(rng.randint(1, 2)),
                    rng.choice(AGENTS),
                    rng.random() < 0.1,
                ]
            )
        session = active[rng.randrange(len(active))]
        vid, _, site, agent, is_bot = session
        now += step
        stamp = format_timestamp(now)
        roll = rng.random()
        if roll < 0.70 or (roll < 0.80 and is_bot):
            url = f"https://shop{site}.example.com/p/{rng.randint(1, 50)}"
            # Drawn only with campaigns, so the default stream stays as it was.
            if campaigns and rng.random() < campaigns:
                url += "?" + rng.choice(CAMPAIGNS)
            record = page_record(
                stamp,
                str(vid),
                str(site),
                "203.0.113.9",
                "GET",
                url,
                str(agent),
                rng.choice(REFERRERS),
            )
        elif roll < 0.80:
            record = pixel_record(stamp, str(vid), str(site))
        elif roll < 0.92:
            name, kind = rng.choice(GOALS)
            value = f"{rng.choice([9.5, 12, 30])}" if kind else ""
            record = goal_record(
                stamp, str(vid), str(site), name, value, kind, "C" if kind else ""
            )
        else:
            test = rng.choice(list(TESTS))
            population = TESTS[test][int(str(vid), 16) % len(TESTS[test])]
            record = split_record(stamp, str(vid), str(site), test, population)
        batch.append(record)
        written += 1
        session[1] = int(session[1]) - 1  # type: ignore[call-overload]
        if int(session[1]) <= 0:  # type: ignore[call-overload]
            active.remove(session)
        if len(batch) >= 1000:
            clock[0] = now
            log.write(batch)
            batch = []
    if batch:
        clock[0] = now
        log.write(batch)
    log.close()
    return written
