"""TimeRotatingLog: hourly append-only files, and reading them back."""

import logging
import multiprocessing
import os
import queue
import random
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.log import Log, LogReader, timerotating
from manhattan.log.memory import MemoryLog
from manhattan.log.timerotating import TimeRotatingLog

# Hour starts worked out by hand: 1_400_000_400 = 388_889 * 3600.
H1 = 1_400_000_400
H2 = H1 + 3600
H4 = H1 + 3 * 3600


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def rec(*fields):
    """A record of plain ASCII fields: its line is the fields joined by tabs."""
    return ["1", "page", "1400000400.0000", "vid", "0", *fields]


def line(record):
    return ("\t".join(record) + "\n").encode("ascii")


# Readers here are past the grace for late writes to earlier hours
# (test_timerotating_late.py tests those), so their pointers are 0.3's.
def make_log(tmp_path, now=H1 + timerotating.LATE_WRITE_GRACE + 10.0, **kwargs):
    kwargs.setdefault("poll_interval", 0.01)
    clock = Clock(now)
    return TimeRotatingLog(tmp_path / "logs" / "events", clock=clock, **kwargs), clock


def read_file(tmp_path, hour):
    return (tmp_path / "logs" / f"events.{hour}").read_bytes()


class Script(threading.Event):
    """A killed_event whose wait() runs the next scripted step instead of
    sleeping, and sets itself once the script is over."""

    def __init__(self, *steps):
        super().__init__()
        self.steps = list(steps)
        self.waits = 0

    def wait(self, timeout=None):
        self.waits += 1
        if self.steps:
            self.steps.pop(0)()
        else:
            self.set()
        return self.is_set()


# Writing


def test_write_creates_directories_and_the_hour_file(tmp_path):
    log, _ = make_log(tmp_path, now=H1 + 1234.5678)
    log.write([rec("a"), rec("b")])

    assert os.listdir(tmp_path / "logs") == ["events.1400000400"]
    assert read_file(tmp_path, H1) == line(rec("a")) + line(rec("b"))


def test_write_escapes_fields(tmp_path):
    log, _ = make_log(tmp_path)
    log.write([["1", "goal", "t\tab", "new\nline", "caf\xe9", "\U0001f600"]])

    assert read_file(tmp_path, H1) == b"1\tgoal\tt\\tab\tnew\\nline\tcaf\\xe9\t\\U0001f600\n"


@pytest.mark.parametrize(
    ("now", "hour"),
    [
        pytest.param(H1, H1, id="hour-start"),
        pytest.param(H1 + 3599.999, H1, id="hour-end"),
        pytest.param(H2, H2, id="next-hour-start"),
        pytest.param(H1 - 0.5, H1 - 3600, id="just-before"),
    ],
)
def test_file_is_named_by_the_start_of_the_clock_hour(tmp_path, now, hour):
    log, _ = make_log(tmp_path, now=now)
    log.write([rec()])

    assert os.listdir(tmp_path / "logs") == [f"events.{hour}"]


def test_new_hour_starts_a_new_file_and_leaves_the_old_one(tmp_path):
    log, clock = make_log(tmp_path, now=H1 + 1)
    log.write([rec("a")])
    clock.now = H1 + 3599.9
    log.write([rec("b")])
    clock.now = H2 + 0.1
    log.write([rec("c")])
    clock.now = H4
    log.write([rec("d")])

    assert sorted(os.listdir(tmp_path / "logs")) == [
        f"events.{H1}",
        f"events.{H2}",
        f"events.{H4}",
    ]
    assert read_file(tmp_path, H1) == line(rec("a")) + line(rec("b"))
    assert read_file(tmp_path, H2) == line(rec("c"))
    assert read_file(tmp_path, H4) == line(rec("d"))


@pytest.mark.parametrize(
    ("now", "at", "hour"),
    [
        pytest.param(H2 + 5, H1 + 3599.9, H1, id="an-earlier-hour"),
        pytest.param(H1 + 5, H4, H4, id="a-later-hour"),
        pytest.param(H1 + 5, None, H1, id="none-is-the-clock"),
    ],
)
def test_write_at_a_time_chooses_that_times_hour_not_the_clocks(tmp_path, now, at, hour):
    log, _ = make_log(tmp_path, now=now)
    log.write([rec("a")], at=at)

    assert os.listdir(tmp_path / "logs") == [f"events.{hour}"]
    assert read_file(tmp_path, hour) == line(rec("a"))


def test_write_appends_to_an_existing_file(tmp_path):
    first, _ = make_log(tmp_path)
    first.write([rec("a")])
    first.close()
    second, _ = make_log(tmp_path)
    second.write([rec("b")])

    assert read_file(tmp_path, H1) == line(rec("a")) + line(rec("b"))


def test_close_then_write_reopens(tmp_path):
    log, _ = make_log(tmp_path)
    log.close()  # nothing open yet
    log.write([rec("a")])
    log.close()
    log.close()
    log.write([rec("b")])

    assert read_file(tmp_path, H1) == line(rec("a")) + line(rec("b"))


def test_write_of_no_records_touches_nothing(tmp_path):
    log, _ = make_log(tmp_path)
    log.write([])

    assert not (tmp_path / "logs").exists()


def test_one_batch_is_one_os_write(tmp_path, monkeypatch):
    calls = []
    real_write = os.write

    def counting_write(fd, data):
        calls.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(timerotating.os, "write", counting_write)
    log, _ = make_log(tmp_path)
    log.write([rec("a"), rec("b"), rec("c")])

    assert calls == [line(rec("a")) + line(rec("b")) + line(rec("c"))]


def test_a_short_os_write_is_finished(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(timerotating.os, "write", lambda fd, data: real_write(fd, data[:7]))
    log, _ = make_log(tmp_path)
    log.write([rec("a" * 30), rec("b")])

    assert read_file(tmp_path, H1) == line(rec("a" * 30)) + line(rec("b"))


def _records_of_worker(worker, batches):
    """Worker ``worker``'s batches: three records each, with long fields (2-8 KB)
    and, in every fourth batch, characters that need escapes."""
    rng = random.Random(worker)
    pool = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ./", k=rng.randint(2000, 8000)))
        for _ in range(8)
    ]
    return [
        [
            [
                *("1", "page", "1400000400.0000", f"w{worker}", "0", str(batch), str(i)),
                pool[(3 * batch + i) % 8],
                pool[(3 * batch + i + 3) % 8],
                "t\tn\n\\ caf\xe9 \U0001f600" if batch % 4 == 0 else "plain",
            ]
            for i in range(3)
        ]
        for batch in range(batches)
    ]


def _write_batches(path, worker, batches):
    log = TimeRotatingLog(path, clock=lambda: H1 + 5.0)
    for batch in _records_of_worker(worker, batches):
        log.write(batch)
    log.close()


def test_many_processes_write_whole_lines(tmp_path):
    workers, batches = 4, 500
    path = str(tmp_path / "logs" / "events")
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write_batches, args=(path, worker, batches))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * workers

    log = TimeRotatingLog(path)
    got = [record for record, _ in log.process()]
    assert log.malformed == 0
    assert len(got) == workers * batches * 3
    # Each batch's three records are together (one write per batch) and every
    # worker's batches are in its order.
    batches_seen = [got[i : i + 3] for i in range(0, len(got), 3)]
    for batch in batches_seen:
        assert {record[3] for record in batch} == {batch[0][3]}
        assert [record[5] for record in batch] == [batch[0][5]] * 3
        assert [record[6] for record in batch] == ["0", "1", "2"]
    for worker in range(workers):
        mine = [batch for batch in batches_seen if batch[0][3] == f"w{worker}"]
        assert mine == _records_of_worker(worker, batches)


def test_threads_writing_at_an_hour_change_lose_nothing(tmp_path):
    log, clock = make_log(tmp_path, now=H1 + 3599.0)
    start = threading.Barrier(4)

    def writer(n):
        start.wait()
        for i in range(200):
            if n == 0 and i == 100:
                clock.now = H2 + 1.0
            log.write([rec(str(n), str(i))])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    got = [record for record, _ in log.process()]
    assert sorted(got) == sorted(rec(str(n), str(i)) for n in range(4) for i in range(200))


# The log's path


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("logs/", id="trailing-slash"),
        pytest.param("", id="empty"),
        pytest.param(".", id="dot"),
        pytest.param("logs/..", id="dot-dot"),
        pytest.param("/", id="root"),
    ],
)
def test_a_path_naming_a_directory_is_a_value_error(path):
    with pytest.raises(ValueError, match="not a directory"):
        TimeRotatingLog(path)


def test_relative_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = TimeRotatingLog("rel/events")

    assert log.path == str(tmp_path / "rel" / "events")
    assert log.directory == str(tmp_path / "rel")
    assert log.prefix == "events"


# Reading


def write_hours(tmp_path, hours):
    """Files for each (hour, records); returns the log and the expected
    (record, pointer) pairs, offsets counted by hand from the line lengths."""
    log, clock = make_log(tmp_path)
    expected = []
    for hour, records in hours:
        clock.now = hour + 1.0
        offset = (
            len(read_file(tmp_path, hour))
            if (tmp_path / "logs" / f"events.{hour}").exists()
            else 0
        )
        log.write(records)
        for record in records:
            offset += len("\t".join(record)) + 1
            expected.append((record, f"events.{hour}:{offset}"))
    log.close()
    clock.now = max(hour for hour, _ in hours) + timerotating.HOUR + timerotating.LATE_WRITE_GRACE
    return log, expected


HOURS = [
    (H1, [rec("a"), rec("bb")]),
    (H2, [rec("ccc")]),
    (H1, [rec("d")]),  # a late write to an older hour's file
    (H4, [rec("e"), rec("f")]),
]


def test_process_reads_the_files_in_hour_order(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)
    record_a = len(line(rec("a")))
    record_bb = record_a + len(line(rec("bb")))
    record_d = record_bb + len(line(rec("d")))

    assert list(log.process()) == [
        (rec("a"), f"events.{H1}:{record_a}"),
        (rec("bb"), f"events.{H1}:{record_bb}"),
        (rec("d"), f"events.{H1}:{record_d}"),
        (rec("ccc"), f"events.{H2}:{len(line(rec('ccc')))}"),
        (rec("e"), f"events.{H4}:{len(line(rec('e')))}"),
        (rec("f"), f"events.{H4}:{len(line(rec('e'))) + len(line(rec('f')))}"),
    ]


def test_files_lists_only_the_log_files(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)
    for name in [
        "events.1400000400.gz",
        "events.tmp",
        "events.",
        "events.\u0661\u0662",
        "events",
        "eventsX.1400000400",
        "other.1400000400",
        "events.-1",
    ]:
        (tmp_path / "logs" / name).write_bytes(line(rec("not me")))
    (tmp_path / "logs" / "events.99").write_bytes(line(rec("oldest")))

    assert log.files() == [
        (99, "events.99"),
        (H1, f"events.{H1}"),
        (H2, f"events.{H2}"),
        (H4, f"events.{H4}"),
    ]
    assert [record for record, _ in log.process()][:2] == [rec("oldest"), rec("a")]


def test_files_are_ordered_by_number_not_by_name(tmp_path):
    log, _ = make_log(tmp_path)
    (tmp_path / "logs").mkdir()
    for hour in (7200, 36000, 3600):
        (tmp_path / "logs" / f"events.{hour}").write_bytes(line(rec(str(hour))))

    assert [record[-1] for record, _ in log.process()] == ["3600", "7200", "36000"]


def test_resuming_at_every_pointer_yields_exactly_the_rest(tmp_path):
    log, expected = write_hours(tmp_path, HOURS)
    # File order: by hour, and within a file in write order.
    expected.sort(key=lambda pair: int(pair[1].split(".")[1].split(":")[0]))

    assert list(log.process()) == expected
    for i, (_, pointer) in enumerate(expected):
        assert list(log.process(pointer)) == expected[i + 1 :]


def test_pointer_may_be_a_full_path(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)
    offset = len(line(rec("a")))
    full = os.path.join(str(tmp_path / "logs"), f"events.{H1}") + f":{offset}"

    assert [record for record, _ in log.process(full)][:2] == [rec("bb"), rec("d")]


def test_pointer_at_offset_zero_reads_the_whole_file(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)

    assert [record for record, _ in log.process(f"events.{H2}:0")] == [
        rec("ccc"),
        rec("e"),
        rec("f"),
    ]


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param(f"events.{H2}:4", id="deleted-file"),
        pytest.param(f"events.{H1 + 7200}:0", id="hour-without-file"),
    ],
)
def test_pointer_to_a_missing_file_resumes_at_the_next_file(tmp_path, pointer):
    log, _ = write_hours(tmp_path, HOURS)
    os.remove(tmp_path / "logs" / f"events.{H2}")

    assert [record for record, _ in log.process(pointer)] == [rec("e"), rec("f")]


def test_pointer_after_every_file_yields_nothing(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)

    assert list(log.process(f"events.{H4 + 3600}:10")) == []


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param("", id="empty"),
        pytest.param("nonsense", id="word"),
        pytest.param(f"events.{H1}", id="no-offset"),
        pytest.param(f"events.{H1}:", id="empty-offset"),
        pytest.param(f"events.{H1}:abc", id="word-offset"),
        pytest.param(f"events.{H1}:-1", id="negative-offset"),
        pytest.param(f"events.{H1}:1.5", id="float-offset"),
        pytest.param(f"events.{H1}:\u0661", id="arabic-digit-offset"),
        pytest.param(f"other.{H1}:0", id="other-log"),
        pytest.param(f"eventsX.{H1}:0", id="longer-prefix"),
        pytest.param("events.abc:0", id="word-hour"),
        pytest.param("events.:0", id="empty-hour"),
        pytest.param("events.\u0661:0", id="arabic-digit-hour"),
        pytest.param("events:0", id="no-hour"),
        pytest.param("17", id="memory-log-pointer"),
    ],
)
def test_bad_pointer_is_a_value_error_naming_it(tmp_path, pointer):
    log, _ = write_hours(tmp_path, HOURS)

    with pytest.raises(ValueError, match=re.escape(f"log pointer {pointer!r} is not")):
        next(log.process(pointer))


def test_pointer_past_the_end_of_its_file_is_a_value_error(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)
    size = len(read_file(tmp_path, H2))

    assert list(log.process(f"events.{H2}:{size}")) == [
        (rec("e"), f"events.{H4}:{len(line(rec('e')))}"),
        (rec("f"), f"events.{H4}:{len(line(rec('e'))) + len(line(rec('f')))}"),
    ]
    with pytest.raises(ValueError, match=f"events.{H2}:{size + 1} is past the end"):
        next(log.process(f"events.{H2}:{size + 1}"))


def test_empty_or_missing_directory_has_no_records(tmp_path):
    log, _ = make_log(tmp_path)

    assert log.files() == []
    assert list(log.process()) == []
    (tmp_path / "logs").mkdir()
    assert list(log.process()) == []


def test_empty_file_has_no_records(tmp_path):
    log, _ = make_log(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / f"events.{H1}").write_bytes(b"")

    assert list(log.process()) == []


@settings(max_examples=30, deadline=None)
@given(read_size=st.integers(1, 64))
def test_reading_in_small_blocks_gives_the_same_records(tmp_path_factory, read_size):
    tmp_path = tmp_path_factory.mktemp("blocks")
    log, expected = write_hours(tmp_path, [(H1, [rec("a" * n) for n in range(0, 40, 7)])])
    real_size = timerotating.READ_SIZE
    timerotating.READ_SIZE = read_size
    try:
        assert list(log.process()) == expected
    finally:
        timerotating.READ_SIZE = real_size


def test_unfinished_last_line_waits_for_its_newline(tmp_path):
    log, expected = write_hours(tmp_path, [(H1, [rec("a"), rec("b")])])
    path = tmp_path / "logs" / f"events.{H1}"
    finished = line(rec("c", "\\U0001f600"))
    with path.open("ab") as stream:
        stream.write(finished[:20])

    assert list(log.process()) == expected
    assert log.malformed == 0

    with path.open("ab") as stream:
        stream.write(finished[20:])
    got = list(log.process(expected[-1][1]))
    assert got == [(rec("c", "\U0001f600"), f"events.{H1}:{len(read_file(tmp_path, H1))}")]


def test_stay_alive_reader_yields_a_line_once_it_is_finished(tmp_path):
    log, expected = write_hours(tmp_path, [(H1, [rec("a")])])
    path = tmp_path / "logs" / f"events.{H1}"
    finished = line(rec("b" * 50))

    def append(data):
        def step():
            with path.open("ab") as stream:
                stream.write(data)

        return step

    killed = Script(append(finished[:10]), append(finished[10:40]), append(finished[40:]))
    reader = log.process(stay_alive=True, killed_event=killed)

    assert next(reader) == expected[0]
    assert next(reader) == (rec("b" * 50), f"events.{H1}:{len(read_file(tmp_path, H1))}")
    assert killed.waits == 3
    assert list(reader) == []


def test_unfinished_line_in_an_older_file_is_left_behind(tmp_path):
    log, expected = write_hours(tmp_path, [(H1, [rec("a")]), (H2, [rec("b")])])
    with (tmp_path / "logs" / f"events.{H1}").open("ab") as stream:
        stream.write(b"1\tpage\tcut off")

    assert list(log.process()) == expected
    assert log.malformed == 0


MALFORMED = [
    b"1\tgoal\t\\q\tv\t0\n",
    b"only\tfour\tfields\there\n",
    b"1\tgoal\tcaf\xc3\xa9\tv\t0\n",
]


def test_malformed_lines_are_skipped_counted_and_logged(tmp_path, caplog):
    log, _ = make_log(tmp_path)
    (tmp_path / "logs").mkdir()
    data = line(rec("a")) + MALFORMED[0] + line(rec("b")) + MALFORMED[1] + MALFORMED[2]
    data += line(rec("c"))
    (tmp_path / "logs" / f"events.{H1}").write_bytes(data)
    ends = [data.index(line(rec(x))) + len(line(rec(x))) for x in "abc"]

    with caplog.at_level(logging.WARNING, logger="manhattan.log.timerotating"):
        got = list(log.process())

    assert got == [(rec(x), f"events.{H1}:{end}") for x, end in zip("abc", ends, strict=True)]
    assert log.malformed == 3
    warnings = [r for r in caplog.records if r.name == "manhattan.log.timerotating"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 3
    starts = [data.index(bad) for bad in MALFORMED]
    for record, start in zip(warnings, starts, strict=True):
        assert f"events.{H1}:{start}" in record.getMessage()
    assert "escape" in warnings[0].getMessage()
    assert "fields" in warnings[1].getMessage()
    assert "non-ASCII" in warnings[2].getMessage()


def test_resuming_after_a_malformed_line_does_not_count_it_again(tmp_path):
    log, _ = make_log(tmp_path)
    (tmp_path / "logs").mkdir()
    data = line(rec("a")) + MALFORMED[0] + line(rec("b"))
    (tmp_path / "logs" / f"events.{H1}").write_bytes(data)
    pointer_b = list(log.process())[-1][1]

    assert list(log.process(pointer_b)) == []
    assert log.malformed == 1


def test_stay_alive_reader_counts_a_malformed_last_line_once(tmp_path, caplog):
    log, _ = make_log(tmp_path)
    path = tmp_path / "logs" / f"events.{H1}"
    (tmp_path / "logs").mkdir()
    path.write_bytes(line(rec("a")) + MALFORMED[0])

    def append_b():
        with path.open("ab") as stream:
            stream.write(line(rec("b")))

    killed = Script(lambda: None, lambda: None, append_b)
    reader = log.process(stay_alive=True, killed_event=killed)

    with caplog.at_level(logging.WARNING, logger="manhattan.log.timerotating"):
        assert next(reader)[0] == rec("a")
        assert next(reader)[0] == rec("b")
    assert killed.waits == 3
    assert log.malformed == 1
    assert len([r for r in caplog.records if r.name == "manhattan.log.timerotating"]) == 1
    killed.set()
    assert list(reader) == []


def test_killed_before_start_yields_nothing(tmp_path):
    log, _ = write_hours(tmp_path, HOURS)
    killed = threading.Event()
    killed.set()

    assert list(log.process(killed_event=killed)) == []
    assert list(log.process(stay_alive=True, killed_event=killed)) == []


def test_killed_while_reading_stops_before_the_next_record(tmp_path):
    log, expected = write_hours(tmp_path, HOURS)
    killed = threading.Event()
    reader = log.process(stay_alive=True, killed_event=killed)

    assert next(reader) == expected[0]
    killed.set()
    assert list(reader) == []


def test_stay_alive_waits_for_the_first_file(tmp_path):
    log, _ = make_log(tmp_path)
    writer, _ = make_log(tmp_path, now=H2 + 5)
    killed = Script(lambda: None, lambda: writer.write([rec("first")]))
    reader = log.process(stay_alive=True, killed_event=killed)

    # The reader's clock is in H1, which has no file yet: it follows it from the start.
    pointer = f"events.{H2}:{len(line(rec('first')))};{H1}:0"
    assert next(reader) == (rec("first"), pointer)
    assert killed.waits == 2
    assert list(reader) == []


def test_stay_alive_follows_the_next_hour(tmp_path):
    log, clock = make_log(tmp_path)
    log.write([rec("a")])

    def next_hour():
        clock.now = H2 + 1
        log.write([rec("b")])

    killed = Script(next_hour)
    reader = log.process(stay_alive=True, killed_event=killed)

    assert [record for record, _ in reader] == [rec("a"), rec("b")]
    assert killed.waits == 2  # the second wait ends the script


def test_stay_alive_drains_the_old_hour_before_moving_on(tmp_path, monkeypatch):
    # A writer may append to the old hour's file after the reader reached its
    # end but before the next hour's file appears; that record is not lost.
    log, clock = make_log(tmp_path)
    log.write([rec("a")])
    real_files = TimeRotatingLog.files
    late = []

    def files(self):
        if late and late.pop():
            log.write([rec("late")])  # still the old hour
            clock.now = H2 + 1
            log.write([rec("next")])
        return real_files(self)

    monkeypatch.setattr(TimeRotatingLog, "files", files)
    killed = Script(lambda: None)
    reader = log.process(stay_alive=True, killed_event=killed)

    assert next(reader)[0] == rec("a")
    late.append(True)
    assert [record for record, _ in reader] == [rec("late"), rec("next")]


def test_stay_alive_reader_thread_follows_writes_until_killed(tmp_path):
    log, clock = make_log(tmp_path)
    reader_log, _ = make_log(tmp_path)
    killed = threading.Event()
    watchdog = threading.Timer(10, killed.set)  # a hang becomes a failure
    got = queue.Queue()

    def reader():
        for record, pointer in reader_log.process(stay_alive=True, killed_event=killed):
            got.put((record, pointer))

    thread = threading.Thread(target=reader)
    watchdog.start()
    thread.start()
    try:
        log.write([rec("a"), rec("b")])
        assert got.get(timeout=5)[0] == rec("a")
        assert got.get(timeout=5)[0] == rec("b")
        log.write([rec("c")])
        assert got.get(timeout=5)[0] == rec("c")
        clock.now = H2 + 1
        log.write([rec("d")])
        pointer = f"events.{H2}:{len(line(rec('d')))};{H1}:{3 * len(line(rec('a')))}"
        assert got.get(timeout=5) == (rec("d"), pointer)
        killed.set()
        thread.join(5)
        assert not thread.is_alive()
    finally:
        killed.set()
        watchdog.cancel()
        thread.join()
    assert got.empty()


# The Protocols


class UserLog:
    def __init__(self):
        self.batches = []

    def write(self, records):
        self.batches.append(records)


def test_time_rotating_log_is_a_log_and_a_log_reader(tmp_path):
    log, _ = make_log(tmp_path)

    assert isinstance(log, Log)
    assert isinstance(log, LogReader)


def test_a_plain_class_with_write_is_a_log():
    assert isinstance(UserLog(), Log)
    assert not isinstance(UserLog(), LogReader)
    assert isinstance(MemoryLog(), LogReader)


def test_an_object_without_write_is_not_a_log():
    assert not isinstance(object(), Log)
    assert not isinstance(object(), LogReader)
