"""The log server's pure parts: the intent its state file holds, and what
to do with the head of a processing list (take, clear, resume, fresh).

Entries are ``RemoteLog`` payloads (:func:`manhattan.log.remote.parse_payload`);
the state file and why it makes a kill lose and repeat nothing are told in
:mod:`manhattan.logserver`. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from manhattan.log import Record
from manhattan.log.remote import PayloadError, parse_payload

STATE_SUFFIX = ".logserver-state"
"""Added to the log's base path: the state file's name."""


@dataclass(frozen=True)
class Intent:
    """A batch about to be appended: its hash, its queue, where it goes, its
    size, how many entries it is (the head of the processing list) and how
    long the processing list was with them (it only shrinks, by the batches
    removed: the length tells whether this batch was)."""

    batch: str
    key: str
    file: str
    offset: int
    length: int
    count: int
    pending: int

    def dumps(self) -> bytes:
        """The state file's content."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def loads(cls, data: bytes) -> Intent:
        """Read a state file's content; ``ValueError`` if it is not an intent."""
        fields = json.loads(data)
        if not isinstance(fields, dict) or set(fields) != set(cls.__dataclass_fields__):
            raise ValueError(f"not an intent: {data[:200]!r}")
        intent = cls(**fields)
        types = (
            (intent.batch, str),
            (intent.key, str),
            (intent.file, str),
            (intent.offset, int),
            (intent.length, int),
            (intent.count, int),
            (intent.pending, int),
        )
        if not all(isinstance(value, kind) for value, kind in types):
            raise ValueError(f"not an intent: {data[:200]!r}")
        return intent


def batch_hash(entries: Sequence[bytes]) -> str:
    """One hash of a processing list's entries, in order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(hashlib.sha256(entry).digest())
    return digest.hexdigest()


Decision = Literal["take", "clear", "resume", "fresh"]


def decide(intent: Intent | None, key: str, entries: Sequence[bytes], pending: int) -> Decision:
    """What to do with ``entries``, the head of a processing list of
    ``pending`` entries, given the state's ``intent``.

    ``take``: nothing pending, take the queue. ``clear``: the intent is
    stale (its batch was removed), clear it before taking any. ``resume``:
    the intent is for these entries, still there: append what is missing.
    ``fresh``: these entries were never written.
    """
    if not entries:
        return "take" if intent is None else "clear"
    if (
        intent is not None
        and intent.key == key
        and intent.pending == pending
        and intent.count == len(entries)
        and intent.batch == batch_hash(entries)
    ):
        return "resume"
    return "fresh"


def missing_part(present: bytes, data: bytes) -> bytes:
    """What to append to complete ``data`` when ``present`` is found where it starts.

    ``present`` is what the file holds at the intent's offset (at most
    ``len(data)`` bytes): a prefix of ``data`` (a short write) leaves the
    rest; anything else means the file was changed by someone else, and
    all of ``data`` is appended rather than lost.
    """
    if data.startswith(present):
        return data[len(present) :]
    return data


def validate(entries: Sequence[bytes]) -> tuple[list[Record], list[str]]:
    """The records of the valid entries, and why each other entry was skipped."""
    records: list[Record] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        try:
            records.extend(parse_payload(entry))
        except PayloadError as exc:
            problems.append(f"entry {index} ({len(entry)} bytes): {exc}")
    return records, problems
