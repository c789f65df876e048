"""Every error Manhattan raises, under one root: :class:`ManhattanError`.

``except ManhattanError`` catches whatever Manhattan refuses or fails at,
and nothing else. Where callers already caught a builtin (``ValueError``
for a bad query, ``OSError`` for a port that cannot be bound...), the class
keeps that base as well, so their code keeps working.

Each class stays importable from the module that raises it (``from
manhattan.backend.model import QueryError`` still works); this module is
where they are declared. It imports nothing, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable


class ManhattanError(Exception):
    """The root of every error Manhattan raises on purpose."""


# -- queries -------------------------------------------------------------


class QueryError(ManhattanError, ValueError):
    """A query that cannot be answered: a bad argument, or a name the store
    has never seen (the message suggests the closest known names)."""


class ServerError(ManhattanError):
    """An error reply of the query service, raised by
    :class:`manhattan.client.Client`; ``type`` names the error
    (``QueryError``, ``MethodNotAllowed``..., or ``MalformedReply`` for a
    reply the client cannot read) and ``message`` says what went wrong."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.type = error_type
        self.message = message


# -- the database ----------------------------------------------------------


class StoreError(ManhattanError, RuntimeError):
    """The database cannot be opened or used; the message names its URL
    (password hidden) and the cause."""


class TransientStoreError(StoreError):
    """A commit failed in a way that trying again may get past: the
    connection was lost, the database is shutting down or out of
    resources (disk full), or another transaction held a lock or conflicted
    (serialization failure, deadlock, lock timeout, "database is locked")."""


class CommitRefusedError(StoreError):
    """The database refused a commit, and would refuse it again (a value it
    cannot store, a missing table, a read-only or corrupt database): retrying
    cannot help, so counting stops and says why."""


# -- the server --------------------------------------------------------------


class ConfigError(ManhattanError, ValueError):
    """A setting that cannot be used; the message names it."""


class ServiceError(ManhattanError, OSError):
    """The query service cannot start; the message says why."""


class BindError(ServiceError):
    """The query service could not bind its address (in use, invalid, not
    loopback without a Curve key...)."""


class RequestError(ManhattanError):
    """A request the query service refuses; ``type`` names the error in the reply."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.type = error_type


class StartError(ManhattanError):
    """The log server cannot start; the message is the one line it prints."""


class KeyFileError(ManhattanError, ValueError):
    """A key file that cannot be used; the message names the file."""


# -- logs ------------------------------------------------------------------


class MalformedLineError(ManhattanError, ValueError):
    """A line that does not decode to a record; the message says why."""


class RemoteLogError(ManhattanError, OSError):
    """A batch could not be pushed to Redis; the message says where and why."""


class PayloadError(ManhattanError, ValueError):
    """An entry of the queue that is not a batch of records; the message says why."""


class PartitionsRevokedError(ManhattanError):
    """Partitions this reader read are no longer its own (another worker
    took them over): what was read from them since the last commit must
    not be committed."""

    def __init__(self, partitions: Iterable[int]) -> None:
        self.partitions = sorted(partitions)
        super().__init__(f"partitions {self.partitions} were taken over")


# -- the dashboard -----------------------------------------------------------


class ParameterError(ManhattanError):
    """A request the dashboard refuses; the message names the problem and
    is shown to the user (escaped) with HTTP 400."""


class UnknownNameError(ManhattanError, LookupError):
    """A parameter naming what there is not (a site, a rollup); the message
    says so, with the closest known names, and is shown with HTTP 404."""


__all__ = [
    "BindError",
    "CommitRefusedError",
    "ConfigError",
    "KeyFileError",
    "MalformedLineError",
    "ManhattanError",
    "ParameterError",
    "PartitionsRevokedError",
    "PayloadError",
    "QueryError",
    "RemoteLogError",
    "RequestError",
    "ServerError",
    "ServiceError",
    "StartError",
    "StoreError",
    "TransientStoreError",
    "UnknownNameError",
]
