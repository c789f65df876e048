"""What a --path that matches no log files probably meant (pure)."""

from __future__ import annotations

import pytest

from manhattan.server.paths import did_you_mean, log_bases, no_files_message, suggestions

HOUR = "1764000000"


@pytest.mark.parametrize(
    ("path", "names", "directory", "expected"),
    [
        pytest.param(
            "/var/log/m/events",
            [f"events.log.{HOUR}", "other.txt"],
            False,
            ["/var/log/m/events.log"],
            id="app-wrote-events.log",
        ),
        pytest.param(
            "/var/log/m/events.log",
            [f"events.{HOUR}", f"events.{int(HOUR) + 3600}"],
            False,
            ["/var/log/m/events"],
            id="app-wrote-events",
        ),
        pytest.param(
            f"/var/log/m/events.{HOUR}",
            [f"events.{HOUR}"],
            False,
            ["/var/log/m/events"],
            id="an-hour-file",
        ),
        pytest.param(
            "/var/log/m",
            [f"events.{HOUR}", f"shop.log.{HOUR}", "README", "events"],
            True,
            ["/var/log/m/events", "/var/log/m/shop.log"],
            id="the-directory",
        ),
        pytest.param(
            "/var/log/m/",
            [f"events.{HOUR}"],
            True,
            ["/var/log/m/events"],
            id="the-directory-with-a-slash",
        ),
        pytest.param(
            "logs/evnets", [f"events.{HOUR}"], False, ["logs/events"], id="misspelled-relative"
        ),
        pytest.param(
            "/var/log/m/events",
            ["events", "events.log", "events.gz", f"access.{HOUR}"],
            False,
            [],
            id="nothing-near",
        ),
        pytest.param("/var/log/m/events", [], False, [], id="empty-directory"),
        pytest.param("/var/log/m", ["events"], True, [], id="directory-without-logs"),
        pytest.param(
            "/l/events",
            [f"events.{n}.{HOUR}" for n in range(7)],
            False,
            [f"/l/events.{n}" for n in range(5)],
            id="at-most-five",
        ),
    ],
)
def test_suggestions(path: str, names: list[str], directory: bool, expected: list[str]) -> None:
    assert suggestions(path, names, directory=directory) == expected


def test_log_bases_are_the_names_before_the_hour() -> None:
    names = [f"b.{HOUR}", f"a.log.{HOUR}", f"b.{HOUR}1", ".x", "c.", "d.1e5", "e.١٢"]
    assert log_bases(names) == ["a.log", "b"]


@pytest.mark.parametrize(
    ("suggested", "expected"),
    [
        pytest.param([], "", id="none"),
        pytest.param(["/l/a"], "; did you mean --path /l/a?", id="one"),
        pytest.param(["a", "b"], "; did you mean --path a or --path b?", id="two"),
    ],
)
def test_did_you_mean(suggested: list[str], expected: str) -> None:
    assert did_you_mean(suggested) == expected


def test_no_files_message_names_the_pattern_and_the_suggestions() -> None:
    assert no_files_message("/l/events", ["/l/events.log"]) == (
        "no log files match --path /l/events (it reads files /l/events.<hour>); "
        "did you mean --path /l/events.log?"
    )


def test_no_files_message_without_suggestions_says_what_to_check() -> None:
    assert no_files_message("/l/events", []) == (
        "no log files match --path /l/events (it reads files /l/events.<hour>): nothing "
        "was written there yet, or the app writes its TimeRotatingLog elsewhere (--path "
        "is the path given to TimeRotatingLog)"
    )
