"""MemoryLog: records in a list, pointers are record indexes."""

import threading

import pytest

from manhattan.log import Log, LogReader
from manhattan.log.memory import MemoryLog

RECORDS = [["1", "page", "1.0000", "a", "0"], ["1", "pixel", "2.0000", "a", "0"], ["x"], []]


def written(records=RECORDS):
    log = MemoryLog()
    log.write(records)
    return log


def test_process_yields_records_with_their_index_as_pointer():
    log = written()

    assert list(log.process()) == [(record, str(i)) for i, record in enumerate(RECORDS)]
    assert len(log) == 4


def test_write_appends_batches_in_order():
    log = MemoryLog()
    log.write([["a"], ["b"]])
    log.write([])
    log.write([["c"]])

    assert [record for record, _ in log.process()] == [["a"], ["b"], ["c"]]
    assert log.records == [["a"], ["b"], ["c"]]


def test_write_stores_copies_as_lists():
    source = [["a", "b"], ("c", "d")]
    log = written(source)
    source[0].append("changed")

    assert log.records == [["a", "b"], ["c", "d"]]


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        pytest.param("0", RECORDS[1:], id="first"),
        pytest.param("2", RECORDS[3:], id="middle"),
        pytest.param("3", [], id="last"),
        pytest.param("10", [], id="beyond-the-end"),
    ],
)
def test_process_resumes_after_the_pointer(pointer, expected):
    assert [record for record, _ in written().process(pointer)] == expected


def test_resuming_from_every_pointer_yields_the_rest():
    log = written()
    for record_pointer in log.process():
        _, pointer = record_pointer
        rest = list(log.process(pointer))
        assert rest == [(r, str(i)) for i, r in enumerate(RECORDS) if i > int(pointer)]


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param("", id="empty"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="float"),
        pytest.param("abc", id="word"),
        pytest.param(" 1", id="space"),
        pytest.param("\u0661", id="arabic-digit"),
        pytest.param("events.1400000400:12", id="file-pointer"),
        pytest.param(1, id="int-not-str"),
    ],
)
def test_bad_pointer_is_a_value_error(pointer):
    with pytest.raises(ValueError, match="MemoryLog pointer"):
        next(written().process(pointer))


def test_killed_before_start_yields_nothing():
    killed = threading.Event()
    killed.set()

    assert list(written().process(killed_event=killed)) == []
    assert list(written().process(stay_alive=True, killed_event=killed)) == []


def test_killed_between_records_stops_before_the_next():
    killed = threading.Event()
    reader = written().process(killed_event=killed)

    assert next(reader) == (RECORDS[0], "0")
    killed.set()
    assert list(reader) == []


def test_without_stay_alive_process_ends_at_the_last_record():
    log = written()
    reader = log.process(killed_event=threading.Event())

    assert len(list(reader)) == 4
    log.write([["late"]])
    assert list(reader) == []


def test_stay_alive_follows_a_writer_thread_until_killed():
    log = MemoryLog()
    killed = threading.Event()
    watchdog = threading.Timer(5, killed.set)  # a hang becomes a failure
    batches = [[[f"{batch}-{i}"] for i in range(3)] for batch in range(10)]

    def writer():
        for batch in batches:
            log.write(batch)

    thread = threading.Thread(target=writer)
    got = []
    watchdog.start()
    thread.start()
    try:
        for record, pointer in log.process(stay_alive=True, killed_event=killed):
            got.append((record, pointer))
            if len(got) == 30:
                killed.set()
    finally:
        watchdog.cancel()
        thread.join()

    expected = [record for batch in batches for record in batch]
    assert got == [(record, str(i)) for i, record in enumerate(expected)]


def test_stay_alive_reader_waiting_for_records_stops_when_killed():
    log = written()
    killed = threading.Event()
    caught_up = threading.Event()
    got = []

    def reader():
        for record, _ in log.process(stay_alive=True, killed_event=killed):
            got.append(record)
            if len(got) == len(RECORDS):
                caught_up.set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert caught_up.wait(5)
    killed.set()
    thread.join(5)

    assert not thread.is_alive()
    assert got == RECORDS


class WritesWhenChecked(threading.Event):
    """Writes a record the next time the reader looks at it: that is, right
    after the reader has caught up and just before it would wait."""

    def __init__(self, log):
        super().__init__()
        self.log = log
        self.armed = False

    def is_set(self):
        if self.armed:
            self.armed = False
            self.log.write([["late"]])
        return super().is_set()


def test_stay_alive_reads_a_record_written_just_before_it_would_wait():
    log = written([["a"]])
    killed = WritesWhenChecked(log)
    reader = log.process(stay_alive=True, killed_event=killed)

    assert next(reader) == (["a"], "0")
    killed.armed = True
    assert next(reader) == (["late"], "1")
    killed.set()
    assert list(reader) == []


def test_memory_log_is_a_log_and_a_log_reader():
    assert isinstance(MemoryLog(), Log)
    assert isinstance(MemoryLog(), LogReader)
