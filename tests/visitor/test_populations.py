"""Split-test population assignment, checked against the spec's own rule.

``reference_population`` below restates steps 1-4 of "Split-test population
assignment" in ``docs/compat-0.3.md`` from the spec text alone; it shares no code
with ``manhattan.visitor.populations``. The tables compare our code with it
over thousands of visitor ids and every population kind.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import types
from collections import Counter, OrderedDict
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from manhattan.log.memory import MemoryLog
from manhattan.visitor import Visitor, choose_population


def reference_draw(vid: str, name: str) -> float:
    """Steps 1 and 2: the first float of MT seeded with the seed's UTF-8 integer."""
    seed = vid + name
    n = int.from_bytes(seed.encode("utf-8"), "big")
    return random.Random(n).random()


def reference_pick(r: float, populations: Any) -> Any:
    """Steps 3 and 4, for a draw ``r``."""
    if populations is None:
        populations = [True, False]
    if isinstance(populations, dict):
        kept = [(name, populations[name]) for name in sorted(populations)]
        kept = [(name, weight) for name, weight in kept if weight > 0]
        # Decimal weights are our extension (0.3 failed on them): laid as floats.
        kept = [(n, float(w) if isinstance(w, Decimal) else w) for n, w in kept]
        if not kept:
            raise ValueError("no positive weight")
        starts = []
        total = 0
        for _, weight in kept:
            starts.append(total)
            total += weight
        return kept[bisect.bisect(starts, r * total) - 1][0]
    return populations[int(r * len(populations))]


def reference_weights(populations: Any) -> str:
    """The weights field, restated: str(name) -> summed weight, zeros dropped, in given order."""
    weights: dict[str, float] = {}
    items = populations.items() if isinstance(populations, dict) else [(p, 1) for p in populations]
    for name, weight in items:
        if weight > 0:
            weights[str(name)] = weights.get(str(name), 0.0) + float(weight)
    return json.dumps(weights, ensure_ascii=False, separators=(",", ":"))


def reference_population(vid: str, name: str, populations: Any) -> Any:
    return reference_pick(reference_draw(vid, name), populations)


def random_ids(count: int, seed: int) -> list[str]:
    """``count`` visitor ids as the spec makes them: 40 lowercase hex characters."""
    rng = random.Random(seed)
    return [f"{rng.getrandbits(160):040x}" for _ in range(count)]


TEST_NAMES = [
    "homepage button",
    "checkout ✓",
    "épreuve de prix",
    "テスト",
    "🧪 emoji test",
    "tab\tand\nnewline",
    "x" * 300,
]
ODD_IDS = [
    "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
    "not-a-hex-id",
    "é",
    "👩\u200d🔬",
    "\x00",
    "0",
    "a b.c",
    "z" * 500,
]

# (vid, test name, reference draw): random ids with the names in turn, plus
# every odd id with every name.
CASES = [
    (vid, TEST_NAMES[i % len(TEST_NAMES)]) for i, vid in enumerate(random_ids(2000, 20140301))
] + [(vid, name) for vid in ODD_IDS for name in TEST_NAMES]
DRAWS = [(vid, name, reference_draw(vid, name)) for vid, name in CASES]

POPULATION_KINDS = [
    pytest.param(None, id="none"),
    *(pytest.param([f"p{i}" for i in range(size)], id=f"list-{size}") for size in range(1, 8)),
    pytest.param([True, False], id="list-bools"),
    pytest.param([0, 1, 2], id="list-ints"),
    pytest.param([None, "x", 3.5], id="list-mixed"),
    pytest.param(["same", "same", "other"], id="list-duplicates"),
    pytest.param(("red",), id="tuple-1"),
    pytest.param(("red", "green", "blue"), id="tuple-3"),
    pytest.param(("a", "b", "c", "d", "e"), id="tuple-5"),
    pytest.param({"a": 1, "b": 3}, id="dict-int-1-3"),
    pytest.param({"control": 90, "variant": 10}, id="dict-int-90-10"),
    pytest.param({"z": 1, "m": 2, "a": 3}, id="dict-int-reverse-insertion"),
    pytest.param({"a": 0.25, "b": 0.5, "c": 0.25}, id="dict-float"),
    pytest.param({"x": 0.1, "y": 0.2, "z": 0.7}, id="dict-float-inexact"),
    pytest.param({"one": 1, "half": 0.5, "third": 1 / 3}, id="dict-int-and-float"),
    pytest.param({"a": 0, "b": 1, "c": 0, "d": 2}, id="dict-zero-weights"),
    pytest.param({"a": 1, "b": 0.0}, id="dict-float-zero"),
    pytest.param({"only": 7, "none": 0}, id="dict-single-positive"),
    pytest.param({10: 1, 9: 2, 100: 1}, id="dict-int-names"),
    pytest.param({"é": 1, "e": 1, "中": 2, "E": 1}, id="dict-unicode-names"),
    pytest.param({"a": Fraction(1, 3), "b": Fraction(2, 3)}, id="dict-fraction"),
    pytest.param({"a": Decimal("0.25"), "b": Decimal("0.75")}, id="dict-decimal"),
]


@pytest.mark.parametrize("populations", POPULATION_KINDS)
def test_choose_population_matches_spec_rule(populations: Any) -> None:
    for vid, name, r in DRAWS:
        expected = reference_pick(r, populations)
        assert choose_population(vid, name, populations) == expected, (vid, name)


@pytest.mark.parametrize("populations", POPULATION_KINDS)
def test_visitor_split_matches_spec_rule(populations: Any) -> None:
    for vid, name, r in DRAWS:
        expected = reference_pick(r, populations)
        log = MemoryLog()
        visitor = Visitor(vid, log, buffer_writes=False)
        assert visitor.split(name, populations) == expected, (vid, name)
        assert log.records[0][5:7] == [name, str(expected)]
        assert log.records[0][7:] == (
            [] if populations is None else [reference_weights(populations)]
        )


@pytest.mark.parametrize("populations", POPULATION_KINDS)
def test_empty_visitor_id_and_test_name_follow_spec_rule(populations: Any) -> None:
    for vid, name in [("", ""), ("", "t"), ("abc", "")]:
        assert choose_population(vid, name, populations) == reference_population(
            vid, name, populations
        )


def test_population_depends_only_on_concatenated_seed() -> None:
    for vid, name in [("ab", "c"), ("a", "bc"), ("", "abc"), ("abc", "")]:
        assert choose_population(vid, name, list(range(7))) == choose_population(
            "abc", "", list(range(7))
        )


def test_default_populations_default_to_none() -> None:
    for vid, name, r in DRAWS[:200]:
        assert choose_population(vid, name) == reference_pick(r, None)
        assert choose_population(vid, name) in (True, False)


def test_hand_computed_seed_zero() -> None:
    # An empty seed is the integer 0, and random.Random(0).random() is the
    # well-known 0.8444218515250481.
    r = random.Random(0).random()
    assert r == 0.8444218515250481
    assert choose_population("", "", None) is False  # int(0.844 * 2) == 1
    assert choose_population("", "", ["a", "b", "c", "d", "e"]) == "e"  # int(4.22) == 4
    assert choose_population("", "", ("a", "b", "c")) == "c"  # int(2.53) == 2
    assert choose_population("", "", {"a": 1, "b": 3}) == "b"  # 3.38 in [1, 4)
    assert choose_population("", "", {"a": 9, "b": 1}) == "a"  # 8.44 in [0, 9)
    assert choose_population("", "", {"b": 1, "a": 9}) == "a"  # sorted, not insertion
    assert choose_population("", "", {"a": 0.8, "b": 0.1, "c": 0.1}) == "b"  # 0.844 in [0.8, 0.9)


def test_one_item_list_or_tuple_always_picks_it() -> None:
    for vid, name, _ in DRAWS[:300]:
        assert choose_population(vid, name, ["only"]) == "only"
        assert choose_population(vid, name, ("only",)) == "only"


def test_dict_with_single_positive_weight_always_picks_it() -> None:
    for vid, name, _ in DRAWS[:300]:
        assert choose_population(vid, name, {"a": 0, "b": 2.5, "c": 0.0}) == "b"
        assert choose_population(vid, name, {"b": 1}) == "b"


def test_weights_are_laid_out_by_sorted_name_not_insertion_order() -> None:
    seen = Counter()
    for vid, name, r in DRAWS:
        forwards = choose_population(vid, name, {"a": 1, "b": 1})
        backwards = choose_population(vid, name, {"b": 1, "a": 1})
        assert forwards == backwards
        assert forwards == ("a" if r < 0.5 else "b")
        numeric = choose_population(vid, name, {10: 1, 9: 1})
        assert numeric == (9 if r < 0.5 else 10)  # 9 < 10, though "10" < "9"
        seen[forwards] += 1
    assert set(seen) == {"a", "b"}


def test_mapping_types_other_than_dict_are_weights_too() -> None:
    for vid, name, r in DRAWS[:300]:
        expected = reference_pick(r, {"a": 1, "b": 2})
        proxy = types.MappingProxyType({"b": 2, "a": 1})
        assert choose_population(vid, name, proxy) == expected
        assert choose_population(vid, name, OrderedDict([("b", 2), ("a", 1)])) == expected


@pytest.mark.parametrize("size", [3, 5, 7])
def test_rule_is_not_random_choice(size: int) -> None:
    populations = list(range(size))
    differ = 0
    for vid, name, r in DRAWS:
        ours = choose_population(vid, name, populations)
        assert ours == int(r * size)
        n = int.from_bytes((vid + name).encode("utf-8"), "big")
        if random.Random(n).choice(populations) != ours:
            differ += 1
    # choice() draws with getrandbits and rejection; it would move visitors.
    assert differ > len(DRAWS) // 10


def binomial_band(n: int, p: float) -> float:
    return 4.5 * math.sqrt(n * p * (1 - p))


def test_fifty_fifty_split_is_balanced() -> None:
    ids = random_ids(20000, 7)
    hits = sum(choose_population(vid, "balance test") is True for vid in ids)
    assert abs(hits - 10000) <= binomial_band(20000, 0.5)  # == 4.5 * sqrt(n) / 2


def test_one_to_three_weighted_split_is_balanced() -> None:
    ids = random_ids(20000, 8)
    counts = Counter(choose_population(vid, "weighted", {"a": 1, "b": 3}) for vid in ids)
    assert set(counts) == {"a", "b"}
    assert abs(counts["a"] - 5000) <= binomial_band(20000, 0.25)


W = "weight of population"
BAD_POPULATIONS = [
    pytest.param([], ValueError, "populations must not be empty", id="empty-list"),
    pytest.param((), ValueError, "populations must not be empty", id="empty-tuple"),
    pytest.param({}, ValueError, "populations must not be empty", id="empty-dict"),
    pytest.param({"a": 0, "b": 0.0}, ValueError, "at least one positive weight", id="all-zero"),
    pytest.param({"a": 1, "b": -1}, ValueError, f"{W} 'b' must not be negative", id="negative"),
    pytest.param({"a": -0.5}, ValueError, f"{W} 'a' must not be negative", id="negative-float"),
    pytest.param({"a": 1, "b": math.nan}, ValueError, f"{W} 'b' must be finite", id="nan"),
    pytest.param({"a": math.inf}, ValueError, f"{W} 'a' must be finite", id="inf"),
    pytest.param({"a": -math.inf}, ValueError, f"{W} 'a' must be finite", id="minus-inf"),
    pytest.param({"a": Decimal("NaN")}, ValueError, f"{W} 'a' must be finite", id="decimal-nan"),
    pytest.param({"a": Decimal("sNaN")}, ValueError, f"{W} 'a' must be finite", id="decimal-snan"),
    pytest.param(
        {"a": Decimal("-1")}, ValueError, f"{W} 'a' must not be negative", id="decimal-negative"
    ),
    pytest.param({"a": "1"}, TypeError, f"{W} 'a' must be a number, not str", id="str-weight"),
    pytest.param({"a": True}, TypeError, f"{W} 'a' must be a number, not bool", id="bool-weight"),
    pytest.param(
        {"a": None}, TypeError, f"{W} 'a' must be a number, not NoneType", id="none-weight"
    ),
    pytest.param({"a": 1, 2: 1}, TypeError, "names must be comparable", id="mixed-names"),
    pytest.param("ab", TypeError, "not str", id="str"),
    pytest.param({"a", "b"}, TypeError, "not set", id="set"),
    pytest.param(frozenset("ab"), TypeError, "not frozenset", id="frozenset"),
    pytest.param(2, TypeError, "not int", id="int"),
    pytest.param(b"ab", TypeError, "not bytes", id="bytes"),
    pytest.param(range(2), TypeError, "not range", id="range"),
    pytest.param((x for x in "ab"), TypeError, "not generator", id="generator"),
]


@pytest.mark.parametrize(("populations", "error", "message"), BAD_POPULATIONS)
def test_bad_populations_are_refused_with_a_clear_message(
    populations: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as excinfo:
        choose_population("f" * 40, "test", populations)
    assert message in str(excinfo.value)
    if message.startswith("not "):
        assert str(excinfo.value).startswith("populations must be None, a list or tuple")


@pytest.mark.parametrize(("populations", "error", "message"), BAD_POPULATIONS)
def test_visitor_split_refuses_bad_populations_and_records_nothing(
    populations: Any, error: type[Exception], message: str
) -> None:
    log = MemoryLog()
    visitor = Visitor("f" * 40, log, buffer_writes=False)
    with pytest.raises(error, match="population"):
        visitor.split("test", populations)
    assert log.records == []
