import pytest

from manhattan.backend.rollups._bounded import remember


@pytest.mark.parametrize(
    ("before", "size", "after"),
    [
        pytest.param({}, 2, {"new": 1}, id="empty"),
        pytest.param({"a": 0}, 2, {"a": 0, "new": 1}, id="room-left"),
        pytest.param({"a": 0, "b": 0}, 2, {"new": 1}, id="full-starts-over"),
    ],
)
def test_remember_starts_over_when_full(
    before: dict[str, int], size: int, after: dict[str, int]
) -> None:
    cache = dict(before)
    assert remember(cache, "new", 1, size) == 1
    assert cache == after
