"""The log server's pure parts: which batch to write, resume or skip, and
the intent its state file holds."""

from __future__ import annotations

import hashlib

import pytest

from manhattan.logserver.protocol import Intent, batch_hash, decide, missing_part, validate
from tests.logserver.helpers import entry, record

INTENT = Intent(batch_hash([b"a"]), "q", "log.0", 10, 20, 1, 3)


@pytest.mark.parametrize(
    ("intent", "key", "entries", "pending", "expected"),
    [
        pytest.param(None, "q", [], 0, "take", id="idle-nothing-pending"),
        pytest.param(INTENT, "q", [], 0, "clear", id="stale-intent"),
        pytest.param(INTENT, "q", [b"a"], 3, "resume", id="intent-for-these"),
        pytest.param(INTENT, "q", [b"a"], 2, "fresh", id="intent-for-a-removed-twin"),
        pytest.param(INTENT, "q", [b"a", b"a"], 3, "fresh", id="intent-for-others"),
        pytest.param(INTENT, "other", [b"a"], 3, "fresh", id="intent-for-another-queue"),
        pytest.param(None, "q", [b"a"], 1, "fresh", id="idle-with-pending"),
    ],
)
def test_decide(
    intent: Intent | None, key: str, entries: list[bytes], pending: int, expected: str
) -> None:
    assert decide(intent, key, entries, pending) == expected


def test_batch_hash_is_of_the_entries_in_order() -> None:
    digest = hashlib.sha256(hashlib.sha256(b"x").digest() + hashlib.sha256(b"y").digest())
    assert batch_hash([b"x", b"y"]) == digest.hexdigest()
    assert batch_hash([b"y", b"x"]) != batch_hash([b"x", b"y"])
    # Entry boundaries count: "xy" is not "x" then "y".
    assert batch_hash([b"xy"]) != batch_hash([b"x", b"y"])


@pytest.mark.parametrize(
    ("present", "data", "expected"),
    [
        pytest.param(b"", b"abc\n", b"abc\n", id="nothing-written"),
        pytest.param(b"ab", b"abc\n", b"c\n", id="short-write"),
        pytest.param(b"abc\n", b"abc\n", b"", id="all-written"),
        pytest.param(b"zz", b"abc\n", b"abc\n", id="changed-by-someone-else"),
    ],
)
def test_missing_part(present: bytes, data: bytes, expected: bytes) -> None:
    assert missing_part(present, data) == expected


def test_validate_keeps_good_entries_in_order_and_says_why_bad_ones_are_not() -> None:
    good = [record(1, 0), record(1, 1)]
    records, problems = validate([entry(*good), b"nope", entry(record(2, 0)), b"[1]"])
    assert records == [*good, record(2, 0)]
    assert len(problems) == 2
    assert problems[0].startswith("entry 1 (4 bytes): not JSON")
    assert problems[1] == "entry 3 (3 bytes): record 0 is int, not a list"


def test_an_intent_round_trips_through_its_file_form() -> None:
    assert Intent.loads(INTENT.dumps()) == INTENT


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(b'{"batch": "x"}', id="missing-fields"),
        pytest.param(
            b'{"batch": "x", "key": "q", "file": "f", "offset": "1", "length": 2, '
            b'"count": 1, "pending": 1}',
            id="wrong-type",
        ),
        pytest.param(b"{", id="not-json"),
    ],
)
def test_a_damaged_intent_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"not an intent|Expecting"):
        Intent.loads(data)
