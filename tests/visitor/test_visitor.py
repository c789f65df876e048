"""The ``Visitor``: what it records, when it writes, and what it refuses."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

with warnings.catch_warnings():
    # WebOb 1.8 imports the stdlib cgi module, deprecated since Python 3.11.
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    from webob import Request

import manhattan.visitor
from manhattan.log import Log
from manhattan.log.memory import MemoryLog
from manhattan.visitor import Visitor

VID = "0123456789abcdef0123456789abcdef01234567"


class RecordingLog:
    """A log that keeps each ``write()`` call as one batch."""

    def __init__(self) -> None:
        self.batches: list[list[list[str]]] = []

    def write(self, records: Sequence[Sequence[str]]) -> None:
        self.batches.append([list(record) for record in records])


class ReplayVisitor(Visitor):
    """A visitor replaying history: its records carry the given times."""

    def __init__(self, *args: Any, times: Iterable[float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.times = iter(times)

    def timestamp(self) -> float:
        return next(self.times)


def first_draw(vid: str, test_name: str) -> float:
    """The spec's draw for (vid, test): the first float of the seeded MT."""
    return random.Random(int.from_bytes((vid + test_name).encode("utf-8"), "big")).random()


CONSTANTS = [
    pytest.param("RATE", "R", id="RATE"),
    pytest.param("AVERAGE", "A", id="AVERAGE"),
    pytest.param("SUM", "S", id="SUM"),
    pytest.param("PER", "I", id="PER"),
    pytest.param("NUMERIC", "N", id="NUMERIC"),
    pytest.param("CURRENCY", "C", id="CURRENCY"),
    pytest.param("PERCENTAGE", "P", id="PERCENTAGE"),
]


@pytest.mark.parametrize(("name", "value"), CONSTANTS)
def test_constants_have_their_0_3_values_at_module_level_and_on_the_class(
    name: str, value: str
) -> None:
    assert getattr(manhattan.visitor, name) == value
    assert getattr(Visitor, name) == value
    assert getattr(Visitor(VID, MemoryLog()), name) == value
    assert name in manhattan.visitor.__all__


def test_package_exports_are_importable() -> None:
    for name in manhattan.visitor.__all__:
        assert hasattr(manhattan.visitor, name)


def test_recording_log_is_a_log() -> None:
    assert isinstance(RecordingLog(), Log)
    assert isinstance(MemoryLog(), Log)


def replay_calls(visitor: Visitor) -> None:
    visitor.page(Request.blank("/"))
    visitor.pixel()
    visitor.goal("signup")
    visitor.split("t", ["only"])


REPLAY_TIMES = [1400000000.0, 1400000001.25, 1400000002.123456, 1400000003.99999]
REPLAYED = [
    ["1", "page", "1400000000.0000", VID, "4", "", "GET", "http://localhost/", "", ""],
    ["1", "pixel", "1400000001.2500", VID, "4"],
    ["1", "goal", "1400000002.1235", VID, "4", "signup", "", "", ""],
    ["1", "split", "1400000004.0000", VID, "4", "t", "only", '{"only":1.0}'],
]


def test_buffered_by_default_until_flush_then_one_write_in_order() -> None:
    log = RecordingLog()
    visitor = ReplayVisitor(VID, log, site_id=4, times=REPLAY_TIMES)
    assert visitor.buffer_writes is True
    replay_calls(visitor)
    assert log.batches == []
    visitor.flush()
    assert log.batches == [REPLAYED]
    assert visitor.buffer == []


def test_buffered_records_reach_a_memory_log_on_flush() -> None:
    log = MemoryLog()
    visitor = ReplayVisitor(VID, log, site_id="4", times=REPLAY_TIMES)
    replay_calls(visitor)
    assert log.records == []
    visitor.flush()
    assert log.records == REPLAYED


def test_each_flush_writes_only_what_came_since_the_last() -> None:
    log = RecordingLog()
    visitor = ReplayVisitor(VID, log, times=[10.0, 20.0, 30.0])
    visitor.pixel()
    visitor.flush()
    visitor.goal("a")
    visitor.goal("b")
    visitor.flush()
    visitor.flush()
    assert log.batches == [
        [["1", "pixel", "10.0000", VID, "0"]],
        [
            ["1", "goal", "20.0000", VID, "0", "a", "", "", ""],
            ["1", "goal", "30.0000", VID, "0", "b", "", "", ""],
        ],
    ]


def test_flush_on_empty_buffer_writes_nothing() -> None:
    log = RecordingLog()
    visitor = Visitor(VID, log)
    visitor.flush()
    assert log.batches == []


def test_unbuffered_writes_each_call_at_once() -> None:
    log = RecordingLog()
    visitor = ReplayVisitor(VID, log, site_id=4, buffer_writes=False, times=REPLAY_TIMES)
    visitor.page(Request.blank("/"))
    assert log.batches == [[REPLAYED[0]]]
    visitor.pixel()
    visitor.goal("signup")
    visitor.split("t", ["only"])
    assert log.batches == [[record] for record in REPLAYED]
    assert visitor.buffer == []
    visitor.flush()
    assert len(log.batches) == 4


def test_record_queues_a_prebuilt_record() -> None:
    log = RecordingLog()
    visitor = Visitor(VID, log)
    visitor.record(["1", "pixel", "5.0000", VID, "0"])
    assert log.batches == []
    visitor.flush()
    assert log.batches == [[["1", "pixel", "5.0000", VID, "0"]]]


@pytest.mark.parametrize(
    ("buffer_writes", "batches"),
    [
        pytest.param(True, [[["first"], ["a"], ["b"]]], id="buffered"),
        pytest.param(False, [[["a"]], [["first"]], [["b"]]], id="unbuffered"),
    ],
)
def test_record_first_goes_before_what_is_buffered(
    buffer_writes: bool, batches: list[list[list[str]]]
) -> None:
    log = RecordingLog()
    visitor = Visitor(VID, log, buffer_writes=buffer_writes)
    visitor.record(["a"])
    visitor.record_first(["first"])
    visitor.record(["b"])
    visitor.flush()
    assert log.batches == batches


def test_page_needs_nothing_of_the_web_layer() -> None:
    # The visitor package sits below manhattan.web: recording a page loads none of it.
    code = (
        "import sys; from webob import Request; from manhattan.log.memory import MemoryLog; "
        "from manhattan.visitor import Visitor; log = MemoryLog(); "
        "Visitor('v', log, buffer_writes=False).page(Request.blank('/'), ['X-A']); "
        "assert log.records[0][1] == 'page'; "
        "print(sorted(name for name in sys.modules if name.startswith('manhattan.web')))"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_default_timestamp_is_the_wall_clock_with_four_decimals() -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log, buffer_writes=False)
    before = time.time()
    visitor.pixel()
    after = time.time()
    stamp = log.records[0][2]
    whole, _, decimals = stamp.partition(".")
    assert whole.isdigit()
    assert len(decimals) == 4
    assert decimals.isdigit()
    assert before - 0.0001 <= float(stamp) <= after + 0.0001


class Shop(int, Enum):
    """An int whose str() is "Shop.BERLIN", not a number."""

    BERLIN = 12


class Digits(str):
    pass


@pytest.mark.parametrize(
    ("site_id", "expected"),
    [
        pytest.param("", "0", id="empty-str"),
        pytest.param(None, "0", id="none"),
        pytest.param(0, "0", id="int-zero"),
        pytest.param(7, "7", id="int"),
        pytest.param(2**31 - 1, "2147483647", id="largest"),
        pytest.param("2147483647", "2147483647", id="largest-str"),
        pytest.param("0002147483647", "2147483647", id="largest-leading-zeros"),
        pytest.param("999999999", "999999999", id="nine-digits-fast"),
        pytest.param("12", "12", id="decimal-str"),
        pytest.param("007", "7", id="leading-zeros"),
        pytest.param("0", "0", id="str-zero"),
        pytest.param(Shop.BERLIN, "12", id="int-enum-member"),
        pytest.param(Digits("34"), "34", id="str-subclass"),
    ],
)
def test_site_id_becomes_a_decimal_field(site_id: Any, expected: str) -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log, site_id=site_id, buffer_writes=False)
    assert visitor.site_id == expected
    visitor.pixel()
    assert log.records[0][4] == expected


def test_site_id_defaults_to_zero() -> None:
    assert Visitor(VID, MemoryLog()).site_id == "0"


@pytest.mark.parametrize(
    ("site_id", "error"),
    [
        pytest.param(-1, ValueError, id="negative-int"),
        pytest.param("-1", ValueError, id="negative-str"),
        pytest.param("abc", ValueError, id="word"),
        pytest.param("1.5", ValueError, id="decimal-point"),
        pytest.param(" 1", ValueError, id="space"),
        pytest.param("1_000", ValueError, id="underscore"),
        pytest.param("\u0661\u0662", ValueError, id="arabic-indic-digits"),
        pytest.param("\u00b2", ValueError, id="superscript-two"),
        pytest.param(1.5, TypeError, id="float"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param(b"1", TypeError, id="bytes"),
        pytest.param([1], TypeError, id="list"),
        pytest.param(2**31, ValueError, id="beyond-32-bits"),
        pytest.param("2147483648", ValueError, id="beyond-32-bits-str"),
        pytest.param(2**63, ValueError, id="beyond-64-bits"),
        pytest.param("9" * 5000, ValueError, id="five-thousand-digits"),
    ],
)
def test_invalid_site_id_is_refused(site_id: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"^site_id must be"):
        Visitor(VID, MemoryLog(), site_id=site_id)


@pytest.mark.parametrize(
    ("vid", "error", "message"),
    [
        pytest.param("", ValueError, "^id must not be empty$", id="empty"),
        pytest.param(None, TypeError, "^id must be a str, not NoneType$", id="none"),
        pytest.param(5, TypeError, "^id must be a str, not int$", id="int"),
    ],
)
def test_invalid_visitor_id_is_refused(vid: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Visitor(vid, MemoryLog())


def test_page_records_the_request() -> None:
    request = Request.blank(
        "/caf%C3%A9/men%C3%BC?q=%C3%A9&a=1",
        base_url="https://shop.example.com",
        remote_addr="203.0.113.9",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        referer="https://search.example/?q=caf%C3%A9",
    )
    assert request.path_info == "/café/menü"
    log = MemoryLog()
    visitor = ReplayVisitor(VID, log, site_id=2, buffer_writes=False, times=[1.0])
    visitor.page(request)
    assert log.records == [
        [
            "1",
            "page",
            "1.0000",
            VID,
            "2",
            "203.0.113.9",
            "GET",
            "https://shop.example.com/caf%C3%A9/men%C3%BC?q=%C3%A9&a=1",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "https://search.example/?q=caf%C3%A9",
        ]
    ]


def test_page_records_the_method_and_empty_fields_for_missing_headers() -> None:
    request = Request.blank("/form", method="POST")
    assert request.remote_addr is None
    log = MemoryLog()
    visitor = ReplayVisitor(VID, log, buffer_writes=False, times=[2.0])
    visitor.page(request)
    assert log.records == [
        ["1", "page", "2.0000", VID, "0", "", "POST", "http://localhost/form", "", ""]
    ]


def test_page_keeps_the_named_request_headers_as_one_trailing_json_field() -> None:
    request = Request.blank(
        "/",
        headers={"Accept-Language": "de-CH,de;q=0.9", "CF-IPCountry": "CH", "X-City": "Zürich"},
    )
    log = MemoryLog()
    visitor = Visitor(VID, log, buffer_writes=False)
    visitor.page(request, record_headers=("Accept-Language", "cf-ipcountry", "X-City", "X-Gone"))
    (record,) = log.records
    assert len(record) == 11
    assert json.loads(record[10]) == {
        "Accept-Language": "de-CH,de;q=0.9",
        "cf-ipcountry": "CH",
        "X-City": "Zürich",
    }
    assert "Zürich" in record[10]


def test_page_with_record_headers_none_present_has_an_empty_object() -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log, buffer_writes=False)
    visitor.page(Request.blank("/"), record_headers=iter(["X-Gone"]))
    assert log.records[0][10] == "{}"


def test_page_without_record_headers_has_the_0_3_field_count() -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log, buffer_writes=False)
    visitor.page(Request.blank("/", headers={"Accept-Language": "en"}))
    assert len(log.records[0]) == 10


@pytest.mark.parametrize(
    ("args", "expected_fields"),
    [
        pytest.param(("signup",), ["signup", "", "", ""], id="plain"),
        pytest.param(
            ("purchase", Decimal("19.99"), Visitor.SUM, Visitor.CURRENCY),
            ["purchase", "19.99", "S", "C"],
            id="sum-currency",
        ),
        pytest.param(("rating", 4, Visitor.AVERAGE), ["rating", "4", "A", ""], id="average"),
        pytest.param(
            ("share", 0.25, Visitor.PER, Visitor.PERCENTAGE),
            ["share", "0.25", "I", "P"],
            id="per-percentage",
        ),
        pytest.param(
            ("clicks", None, Visitor.RATE, Visitor.NUMERIC), ["clicks", "", "R", "N"], id="rate"
        ),
    ],
)
def test_goal_records_name_value_type_and_format(
    args: tuple[Any, ...], expected_fields: list[str]
) -> None:
    log = MemoryLog()
    visitor = ReplayVisitor(VID, log, site_id=3, buffer_writes=False, times=[9.5])
    visitor.goal(*args)
    assert log.records == [["1", "goal", "9.5000", VID, "3", *expected_fields]]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"name": ""}, ValueError, "goal name must not be empty", id="empty-name"),
        pytest.param({"name": None}, TypeError, "goal name must be a str", id="none-name"),
        pytest.param({"name": 42}, TypeError, "goal name must be a str", id="int-name"),
        pytest.param({"name": b"x"}, TypeError, "goal name must be a str", id="bytes-name"),
        pytest.param({"value": "abc"}, TypeError, "value must be a number", id="str-value"),
        pytest.param({"value": "12"}, TypeError, "value must be a number", id="numeric-str"),
        pytest.param({"value": True}, TypeError, "value must be a number", id="bool-value"),
        pytest.param({"value": float("nan")}, ValueError, "value must be a finite", id="nan"),
        pytest.param({"value": float("inf")}, ValueError, "value must be a finite", id="inf"),
        pytest.param(
            {"value": Decimal("Infinity")}, ValueError, "value must be a finite", id="decimal-inf"
        ),
        pytest.param({"value": 1e200}, ValueError, "value must be a finite", id="huge"),
        pytest.param({"value": -1e200}, ValueError, "value must be a finite", id="huge-negative"),
        pytest.param(
            {"name": "a\x00b"}, ValueError, "goal name must not contain a NUL", id="nul-name"
        ),
        pytest.param(
            {"name": "\udc80"}, ValueError, "goal name must be valid Unicode", id="surrogate-name"
        ),
        pytest.param(
            {"name": "n" * 2800}, ValueError, "goal name must be at most 512", id="long-name"
        ),
        pytest.param(
            {"value_type": "X"},
            ValueError,
            "value_type must be one of RATE, AVERAGE, SUM, PER or None, not 'X'",
            id="documented-type-names",
        ),
        pytest.param(
            {"value_format": "X"},
            ValueError,
            "value_format must be one of NUMERIC, CURRENCY, PERCENTAGE or None, not 'X'",
            id="documented-format-names",
        ),
        pytest.param({"value_type": "X"}, ValueError, "value_type must be one of", id="bad-type"),
        pytest.param(
            {"value_type": Visitor.NUMERIC}, ValueError, "value_type must be one of", id="fmt-type"
        ),
        pytest.param({"value_type": "r"}, ValueError, "value_type must be one of", id="lower"),
        pytest.param(
            {"value_format": "R"}, ValueError, "value_format must be one of", id="type-as-format"
        ),
        pytest.param(
            {"value_format": ""}, ValueError, "value_format must be one of", id="empty-format"
        ),
    ],
)
def test_goal_refuses_bad_input_naming_the_argument(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log)
    with pytest.raises(error) as excinfo:
        visitor.goal(**{"name": "ok", **kwargs})
    assert str(excinfo.value).startswith(message)
    assert visitor.buffer == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("añadir al carrito", id="latin"),
        pytest.param("購入 🛒", id="cjk-emoji"),
        pytest.param("\U0001d518nicode", id="non-bmp"),
        pytest.param("tab\tnew\nline\\", id="control"),
        pytest.param("e\u0301", id="combining"),
    ],
)
def test_unicode_goal_and_test_names_are_kept_exactly(name: str) -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log)
    visitor.goal(name)
    visitor.split(name, ["a"])
    visitor.flush()
    assert log.records[0][5] == name
    assert log.records[1][5] == name


def true_and_false_ids(test_name: str) -> tuple[str, str]:
    """A visitor id the spec puts in ``True`` and one it puts in ``False``."""
    rng = random.Random(1)
    found: dict[bool, str] = {}
    while len(found) < 2:
        vid = f"{rng.getrandbits(160):040x}"
        found.setdefault(first_draw(vid, test_name) < 0.5, vid)
    return found[True], found[False]


def test_split_returns_the_population_and_records_its_str() -> None:
    in_true, in_false = true_and_false_ids("new header")
    for vid, expected in [(in_true, True), (in_false, False)]:
        log = MemoryLog()
        visitor = ReplayVisitor(vid, log, site_id=5, buffer_writes=False, times=[77.0])
        assert visitor.split("new header") is expected
        assert log.records == [["1", "split", "77.0000", vid, "5", "new header", str(expected)]]
    assert str(True) == "True"


@pytest.mark.parametrize(
    ("populations", "recorded"),
    [
        pytest.param([None], "None", id="none"),
        pytest.param([3], "3", id="int"),
        pytest.param([2.5], "2.5", id="float"),
        pytest.param({7: 1}, "7", id="dict-int-name"),
        pytest.param(("grün",), "grün", id="unicode"),
    ],
)
def test_split_records_str_of_any_population(populations: Any, recorded: str) -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log)
    visitor.split("t", populations)
    visitor.flush()
    assert log.records[0][6] == recorded


def test_split_records_each_test_and_population_once_per_visitor_object() -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log)
    first = visitor.split("layout", ["wide", "narrow", "tall"])
    for _ in range(3):
        assert visitor.split("layout", ["wide", "narrow", "tall"]) == first
    visitor.flush()
    assert [record[5:7] for record in log.records] == [["layout", first]]


def test_split_records_again_for_a_different_test() -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log)
    a = visitor.split("test a", ["x", "y"])
    b = visitor.split("test b", ["x", "y"])
    visitor.split("test a", ["x", "y"])
    visitor.flush()
    assert [record[5:7] for record in log.records] == [["test a", a], ["test b", b]]


def test_split_records_again_when_the_population_differs() -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log)
    assert visitor.split("t", ["a"]) == "a"
    assert visitor.split("t", ["b"]) == "b"
    visitor.flush()
    assert [record[5:7] for record in log.records] == [["t", "a"], ["t", "b"]]


def test_split_records_again_for_a_new_visitor_object() -> None:
    log = MemoryLog()
    for _ in range(2):
        visitor = Visitor(VID, log)
        visitor.split("t", ["a"])
        visitor.flush()
    assert [record[5:7] for record in log.records] == [["t", "a"], ["t", "a"]]


@pytest.mark.parametrize(
    ("test_name", "error", "message"),
    [
        pytest.param("", ValueError, "test_name must not be empty", id="empty"),
        pytest.param(None, TypeError, "test_name must be a str", id="none"),
        pytest.param(1, TypeError, "test_name must be a str", id="int"),
    ],
)
def test_split_refuses_bad_test_names(
    test_name: Any, error: type[Exception], message: str
) -> None:
    visitor = Visitor(VID, MemoryLog())
    with pytest.raises(error) as excinfo:
        visitor.split(test_name)
    assert str(excinfo.value).startswith(message)
    assert visitor.buffer == []


@pytest.mark.parametrize(
    ("populations", "weights"),
    [
        pytest.param(None, None, id="none-as-0.3"),
        pytest.param(["a", "b"], '{"a":1.0,"b":1.0}', id="list"),
        pytest.param(("a", "a", "b"), '{"a":2.0,"b":1.0}', id="repeats-weigh-more"),
        pytest.param({"new": 1, "old": 9, "gone": 0}, '{"new":1.0,"old":9.0}', id="dict"),
        pytest.param({"é": 0.5, "b": 1.5}, '{"é":0.5,"b":1.5}', id="unicode-in-given-order"),
        pytest.param(
            [["unhashable"], ["x"]], """{"['unhashable']":1.0,"['x']":1.0}""", id="unhashable"
        ),
    ],
)
def test_split_records_the_weights_for_the_analysis(populations: Any, weights: str | None) -> None:
    log = MemoryLog()
    Visitor(VID, log, buffer_writes=False).split("t", populations)
    assert log.records[0][7:] == ([] if weights is None else [weights])


def test_a_value_without_a_value_type_is_kept_in_the_record() -> None:
    log = MemoryLog()
    visitor = ReplayVisitor(VID, log, buffer_writes=False, times=[9.5])
    visitor.goal("X", value=5)
    assert log.records == [["1", "goal", "9.5000", VID, "0", "X", "5", "", ""]]


@pytest.mark.parametrize(
    ("test_name", "populations", "message"),
    [
        pytest.param("", None, "test_name must not be empty", id="empty-test"),
        pytest.param("t\x00", None, "test_name must not contain a NUL", id="nul-test"),
        pytest.param("\ud800", None, "test_name must be valid Unicode", id="surrogate-test"),
        pytest.param("t" * 3000, None, "test_name must be at most 512", id="long-test"),
        pytest.param("T", ["ok", "\udfff"], "population must be valid Unicode", id="surrogate"),
        pytest.param("T", {"ok": 1, "a\x00": 1}, "population must not contain a NUL", id="nul"),
        pytest.param("T", ["ok", ""], "population must not be empty", id="empty"),
        pytest.param("T", ["p" * 513], "population must be at most 512", id="long"),
        pytest.param("T", [["p" * 600]], "population must be at most 512", id="long-unhashable"),
    ],
)
def test_split_refuses_names_no_store_can_hold(
    test_name: str, populations: Any, message: str
) -> None:
    visitor = Visitor(VID, MemoryLog())
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        visitor.split(test_name, populations)
    assert visitor.buffer == []


def test_split_checks_every_population_not_just_the_chosen_one() -> None:
    # Whichever population the visitor lands in, a bad one fails every visitor.
    for vid in ("a" * 40, "b" * 40, "c" * 40, "d" * 40):
        with pytest.raises(ValueError, match=r"^population must not contain a NUL"):
            Visitor(vid, MemoryLog()).split("T", ["fine", "bad\x00", "also fine"])


@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        pytest.param(
            1.7e12,
            ValueError,
            "timestamp() must return seconds since the epoch before the year 10000; "
            "1.7e+12 looks like milliseconds",
            id="milliseconds",
        ),
        pytest.param(1_764_000_000_000, ValueError, "looks like milliseconds", id="ms-int"),
        pytest.param(1.7e15, ValueError, "1.7e+15 looks like microseconds", id="microseconds"),
        pytest.param(
            -5.0, ValueError, "epoch before the year 10000, not negative (-5.0)", id="neg"
        ),
        pytest.param(float("nan"), ValueError, "the year 10000, not nan", id="nan"),
        pytest.param(float("inf"), ValueError, "the year 10000, not inf", id="inf"),
        pytest.param(1e300, ValueError, "the year 10000, not 1e+300", id="far-future"),
        pytest.param(10**400, ValueError, "the year 10000, not inf", id="beyond-float"),
        pytest.param(Decimal("sNaN"), ValueError, "the year 10000, not nan", id="decimal-snan"),
        pytest.param("now", TypeError, "as a number, not str", id="str"),
        pytest.param(None, TypeError, "as a number, not NoneType", id="none"),
        pytest.param(True, TypeError, "as a number, not bool", id="bool"),
    ],
)
def test_a_timestamp_that_is_not_seconds_since_the_epoch_is_refused(
    seconds: Any, error: type[Exception], message: str
) -> None:
    visitor = ReplayVisitor(VID, MemoryLog(), times=[seconds])
    with pytest.raises(error) as excinfo:
        visitor.goal("X")
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith("timestamp() must return seconds since the epoch")
    assert visitor.buffer == []


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(0, "0.0000", id="epoch-int"),
        pytest.param(Decimal("1400000000.5"), "1400000000.5000", id="decimal"),
        pytest.param(253402300799.0, "253402300799.0000", id="last-second-of-9999"),
    ],
)
def test_a_timestamp_of_another_number_type_is_formatted(seconds: Any, expected: str) -> None:
    visitor = ReplayVisitor(VID, MemoryLog(), times=[seconds])
    visitor.pixel()
    assert visitor.buffer[0][2] == expected
