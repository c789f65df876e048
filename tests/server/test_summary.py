"""The line manhattan-server --once ends with: the pure wording, and what
the command line prints for logs whose visitors never loaded the pixel."""

from __future__ import annotations

from pathlib import Path

import pytest

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server import cli
from manhattan.server.summary import summary_line
from manhattan.visitor.records import goal_record, page_record
from tests.server.test_worker import T

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.mark.parametrize(
    ("read", "visitors", "filtered", "counted", "expected"),
    [
        pytest.param(
            12_345,
            9_876,
            {"crawler": 300, "awaiting pixel": 2_000, "malformed record": 2, "held overflow": 0},
            True,
            "this run: 12,345 records read; database totals: 9,876 visitors counted (viewed "
            "a page); events not counted: awaiting pixel 2,000, crawler 300, malformed record 2",
            id="counted",
        ),
        pytest.param(
            1,
            1,
            {},
            True,
            "this run: 1 record read; database totals: 1 visitor counted (viewed a page); "
            "events not counted: none",
            id="one-and-nothing-filtered",
        ),
        pytest.param(
            0,
            0,
            {"awaiting pixel": 0},
            False,
            "this run: 0 records read; database totals: nothing counted; events not counted: none",
            id="empty",
        ),
        pytest.param(
            5,
            0,
            {"malformed line": 5},
            False,
            "this run: 5 records read; database totals: nothing counted; events not "
            "counted: malformed line 5",
            id="all-malformed",
        ),
        pytest.param(
            40,
            0,
            {"awaiting pixel": 38, "crawler": 2},
            False,
            "this run: 40 records read; database totals: nothing counted: no visitor's "
            "browser has loaded the tracking pixel, and only those visitors count; events "
            "not counted: awaiting pixel 38, crawler 2 (see 'Troubleshooting' in "
            "Manhattan's README)",
            id="no-pixel",
        ),
        pytest.param(
            3,
            0,
            {"awaiting pixel": 1},
            True,
            "this run: 3 records read; database totals: 0 visitors counted (viewed a page); "
            "events not counted: awaiting pixel 1",
            id="goals-without-page-views",
        ),
    ],
)
def test_summary_line(
    read: int, visitors: int, filtered: dict[str, int], counted: bool, expected: str
) -> None:
    assert summary_line(read, visitors, filtered, counted_anything=counted) == expected


def test_once_over_visitors_who_never_loaded_the_pixel_says_why_nothing_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = TimeRotatingLog(tmp_path / "events", clock=lambda: T)
    for n in range(3):
        vid = f"visitor{n}"
        log.write([page_record(f"{T + n}.0000", vid, "0", "203.0.113.9", "GET", "/", UA, "")])
        log.write([goal_record(f"{T + n}.5000", vid, "0", "Bought")])
    log.close()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert cli.main(["--path", log.path, "--url", url, "--once"]) == 0
    assert capsys.readouterr() == (
        "",
        "manhattan-server: this run: 6 records read; database totals: nothing counted: "
        "no visitor's browser has loaded the tracking pixel, and only those visitors "
        "count; events not counted: awaiting pixel 6 (see 'Troubleshooting' in "
        "Manhattan's README)\n",
    )
