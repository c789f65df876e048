"""The text line format of 0.3's logs: one record per line.

Each field is encoded with Python's ``unicode_escape`` codec (so tabs,
newlines, backslashes and non-ASCII characters become escapes), fields are
joined by a tab and the line ends with a newline. The codec round-trips every
string, including lone surrogates and characters outside the BMP.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from manhattan.exceptions import MalformedLineError as MalformedLineError
from manhattan.records.layout import COMMON_FIELDS, Record

MIN_FIELDS = COMMON_FIELDS
"""version, kind, timestamp, visitor id, site id: anything shorter is not a
record (:data:`manhattan.records.layout.COMMON_FIELDS`, under its old name)."""


# What unicode_escape may legally hold; anything else (say ``\q``, or an octal
# escape above ``\377``) is refused rather than decoded with a warning into
# something no writer meant. The codec reads up to three octal digits, so a
# ``\4``..``\7`` escape is only legal when at most one more digit follows.
_ESCAPED = re.compile(
    rb"(?:[^\\]|\\(?:[\\'\"abfnrtv]|[0-3][0-7]{0,2}|[4-7][0-7]?(?![0-7])|x[0-9a-fA-F]{2}"
    rb"|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[A-Za-z0-9 -]+\}))*"
)


TORN_MARK = b"\xff"
"""Ends a line a write left unfinished: writers escape every non-ASCII
character, so no reader takes such a line for a record, even one cut
after its last tab. A line holding only the mark ended nothing (the file's
end was seen in the middle of another process's write) and is skipped."""


def append_lines(fd: int, data: bytes, known_end: int = -1) -> int:
    """Append ``data`` (whole lines) to the file open at ``fd`` (readable,
    ``O_APPEND``), all of it; returns the file's size after it, as far as
    this call can tell.

    A write cut short by a full disk (``OSError`` after part of it) leaves
    an unfinished last line; the next append, by this process or another,
    ends it with :data:`TORN_MARK` and a newline first, so its records are
    not glued to that line and lost with it: readers skip the torn line as
    malformed. (Seeing the end of another writer's unfinished write adds a
    line of the mark alone, which readers skip.) Short writes (a signal)
    are finished. ``known_end`` is what the caller's last append returned:
    while the file still ends there, its last byte is that append's newline
    and is not read again (a syscall saved on every write of a lone writer).
    """
    size = os.lseek(fd, 0, os.SEEK_END)
    if size and size != known_end and os.pread(fd, 1, size - 1) != b"\n":
        data = TORN_MARK + b"\n" + data
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])
    return size + len(data)


def _plain(text: str, tabs: int, newlines: int) -> bool:
    """Whether ``unicode_escape`` would leave ``text`` as it is but for its
    ``tabs`` separating tabs and ``newlines`` ending newlines.

    True for printable ASCII without a backslash, which most records are:
    then a few scans and one encode do instead of one encode per field.
    """
    return (
        text.isascii()
        and "\\" not in text
        and text.count("\t") == tabs
        and text.count("\n") == newlines
        and text.replace("\t", " ").replace("\n", " ").isprintable()
    )


def encode_record(record: Sequence[str]) -> bytes:
    """One record as one line, newline included."""
    line = "\t".join(record) + "\n"
    if _plain(line, len(record) - 1, 1):
        return line.encode()
    return b"\t".join([field.encode("unicode_escape") for field in record]) + b"\n"


def encode_records(records: Sequence[Sequence[str]]) -> bytes:
    """Records as consecutive lines, for a single write."""
    text = "\n".join(["\t".join(record) for record in records]) + "\n"
    fields = sum(map(len, records))
    if records and _plain(text, fields - len(records), len(records)):
        return text.encode()
    return b"".join([encode_record(record) for record in records])


def decode_line(line: bytes) -> Record:
    """The record of one line (with or without its newline).

    Raises :class:`MalformedLineError` for a line that is not valid escaped ASCII
    or has fewer than :data:`MIN_FIELDS` fields.
    """
    if line.endswith(b"\n"):
        line = line[:-1]
    if b"\\" not in line and line.isascii():
        # No escapes: one decode and one split (the common case, kept cheap).
        record = line.decode("ascii").split("\t")
        if len(record) >= MIN_FIELDS:
            return record
    if line.endswith(TORN_MARK):
        raise MalformedLineError("a torn line: the end of a write that was cut short")
    fields = line.split(b"\t")
    if len(fields) < MIN_FIELDS:
        raise MalformedLineError(
            f"expected at least {MIN_FIELDS} tab-separated fields, got {len(fields)}"
        )
    if not line.isascii():
        raise MalformedLineError("non-ASCII byte in a line (writers escape every such character)")
    if _ESCAPED.fullmatch(line) is None:
        raise MalformedLineError("invalid backslash escape")
    try:
        return [field.decode("unicode_escape") for field in fields]
    except UnicodeDecodeError as exc:
        raise MalformedLineError(f"undecodable escape: {exc.reason}") from None
