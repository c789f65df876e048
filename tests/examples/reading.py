"""Reading an example's log back, and what every example must have recorded."""

from __future__ import annotations

from pathlib import Path

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.visitor import choose_population
from manhattan.web.cookies import CookieSigner

TEST = "signup button colour"
POPULATIONS = ["red", "blue"]


def read_log(path: Path) -> list[list[str]]:
    """Every record in the ``TimeRotatingLog`` at ``path``, in order."""
    return [record for record, _ in TimeRotatingLog(path).process()]


def check_visit(records: list[list[str]], cookie: str, secret: str, page: bytes) -> str:
    """Check a visit (home, signup, pixel) was recorded for the cookie's visitor.

    Returns the visitor's population, checked against the 0.3 choice rule.
    """
    visitor_id = CookieSigner(secret).verify(cookie)
    assert visitor_id is not None, cookie
    assert {record[3] for record in records} == {visitor_id}
    kinds = [record[1] for record in records]
    assert kinds[:2] == ["page", "split"]
    assert "goal" in kinds
    assert "pixel" in kinds
    split = records[1]
    assert split[5] == TEST
    assert split[6] == choose_population(visitor_id, TEST, POPULATIONS)
    [goal] = [record for record in records if record[1] == "goal"]
    assert goal[5] == "signed up"
    assert f'class="{split[6]}"'.encode() in page
    assert b'<img src="/vpixel.gif"' in page
    return split[6]
