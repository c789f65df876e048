"""A client for the server's query service (see :mod:`manhattan.server.service`).

>>> client = Client("tcp://127.0.0.1:5555", wait=3000)   # doctest: +SKIP
>>> client.count("add to cart", ("Cart button", "red"))   # doctest: +SKIP
42

A server that requires CurveZMQ (see :mod:`manhattan.keys`) is reached with
``Client(connect, curve_server_key="server.key", curve_secret_key="me.key_secret")``:
the server's public certificate file and, if the server admits only listed
clients, this client's secret one (without it the client uses a key pair
made up for the connection).

Every call waits at most ``wait`` milliseconds for its reply, then raises
:class:`TimeoutError`, whose message says what to check; the next call
works normally (the socket is replaced, so a request still queued for a
server that is down is dropped, and a late reply cannot be taken for the
answer to a later request). Error replies raise
:class:`ServerError`; those of a type Manhattan declares (``QueryError``,
``StoreError``...) raise a subclass of both, so that ``except QueryError``
(:mod:`manhattan.exceptions`) catches a query the server cannot answer.

A client is for one thread: give each thread its own.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

import zmq

from manhattan.analysis.types import Analysis
from manhattan.backend.model import Variant
from manhattan.endpoints import check_endpoint
from manhattan.exceptions import (
    CommitRefusedError,
    QueryError,
    ServerError,
    StoreError,
    TransientStoreError,
)
from manhattan.keys import load_public_key, load_secret_key

DEFAULT_CONNECT = "tcp://127.0.0.1:5555"
DEFAULT_WAIT = 3000

T = TypeVar("T")


class ServerQueryError(ServerError, QueryError):
    """An error reply of type ``QueryError``: a query the server cannot
    answer, caught as either."""


class ServerStoreError(ServerError, StoreError):
    """An error reply of type ``StoreError``: the server's database failed."""


class ServerTransientStoreError(ServerStoreError, TransientStoreError):
    """An error reply of type ``TransientStoreError``."""


class ServerCommitRefusedError(ServerStoreError, CommitRefusedError):
    """An error reply of type ``CommitRefusedError``."""


REPLY_ERRORS: Mapping[str, type[ServerError]] = {
    "QueryError": ServerQueryError,
    "StoreError": ServerStoreError,
    "TransientStoreError": ServerTransientStoreError,
    "CommitRefusedError": ServerCommitRefusedError,
}
"""The error replies raised as Manhattan's own class as well as
:class:`ServerError`; any other type is a plain :class:`ServerError`."""


def reply_error(error_type: str, message: str) -> ServerError:
    """The exception for an error reply of type ``error_type``."""
    return REPLY_ERRORS.get(error_type, ServerError)(error_type, message)


class Client:
    """Queries a Manhattan server listening on ``connect``.

    Its query methods are those of :class:`manhattan.backend.model.Queries`.
    A non-finite number (sent as ``null``) comes back as NaN.

    ``curve_server_key`` is the server's public certificate file (its
    ``.key``), ``curve_secret_key`` this client's secret one (a
    ``.key_secret``); both made by ``manhattan-keys``. A bad address, wait
    or key file is a :class:`ValueError` naming it.
    """

    def __init__(
        self,
        connect: str = DEFAULT_CONNECT,
        wait: int = DEFAULT_WAIT,
        *,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        curve_server_key: str | os.PathLike[str] | None = None,
        curve_secret_key: str | os.PathLike[str] | None = None,
    ) -> None:
        if wait <= 0:
            raise ValueError(f"wait must be a positive number of milliseconds, not {wait}")
        self.connect = check_endpoint(connect)
        self.wait = wait
        self._curve: tuple[bytes, bytes, bytes] | None = None
        if curve_server_key is not None:
            server = load_public_key(curve_server_key)
            if curve_secret_key is None:
                # The server then admits any client that knows its key.
                public, secret = zmq.curve_keypair()
            else:
                public, secret = load_secret_key(curve_secret_key)
            self._curve = (server, public, secret)
        elif curve_secret_key is not None:
            raise ValueError(
                "curve_secret_key needs curve_server_key: the server's public key file"
            )
        self._context = context if context is not None else zmq.Context.instance()
        self._ids = itertools.count(1)
        # Connect now so that a bad address fails here, not on the first call.
        self._socket: zmq.Socket[bytes] | None = self._connect()

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on the server and return its result.

        :class:`ServerError` for an error reply, :class:`TimeoutError` when
        no reply came within ``wait`` ms.
        """
        request: dict[str, Any] = {"method": method}
        if args:
            request["args"] = args
        if kwargs:
            request["kwargs"] = kwargs
        body = json.dumps(request, allow_nan=False, separators=(",", ":")).encode()
        if self._socket is None:
            self._socket = self._connect()
        socket = self._socket
        tag = str(next(self._ids)).encode()
        socket.send_multipart([tag, body])
        deadline = time.monotonic() + self.wait / 1000
        while True:
            remaining_ms = math.ceil((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not socket.poll(remaining_ms):
                # Drop the socket with whatever it still queues: the request
                # must not reach a server that comes up later, nor its reply
                # be read as the answer to a later request.
                self._close_socket()
                raise TimeoutError(self._timeout_message(method))
            frames = socket.recv_multipart()
            if len(frames) == 2 and frames[0] == tag:
                return _result(frames[1])
            # Anything else is not the reply to this request: skip it.

    def ping(self) -> str:
        """``"pong"`` when the service is up."""
        return _convert("ping", _text, self.call("ping"))

    def count(
        self,
        goal: str | None = None,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> int:
        """Unique visitors who reached ``goal`` (with ``variant``: in that
        population); with only a variant, the population's impressions."""
        result = self.call("count", goal, variant, rollup_key, bucket_id, site_id)
        return _convert("count", _integer, result)

    def goal_value(
        self,
        goal: str,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> float:
        """The goal's value by its value type (SUM, AVERAGE, PER, RATE;
        without one, its count)."""
        result = self.call("goal_value", goal, variant, rollup_key, bucket_id, site_id)
        return _convert("goal_value", _number, result)

    def all_tests(self) -> list[tuple[str, float, float]]:
        """``[(name, first timestamp, last timestamp)]``, newest first."""
        return _convert("all_tests", _test_rows, self.call("all_tests"))

    def results(
        self, test_name: str, goals: Sequence[str], site_id: int | None = None
    ) -> dict[str, list[float]]:
        """``{population: [goal_value(goal, (test, population)) ...]}``."""
        result = self.call("results", test_name, list(goals), site_id)
        return _convert("results", _result_table, result)

    def goals(self) -> list[dict[str, Any]]:
        """Every goal: name, value type and format, first and last time."""
        return _convert("goals", _records, self.call("goals"))

    def tests(self) -> list[dict[str, Any]]:
        """Every test: name, first and last time, populations, crossovers, weights."""
        return _convert("tests", _records, self.call("tests"))

    def analyze(
        self,
        test_name: str,
        goals: Sequence[str] | None = None,
        control: str | None = None,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        weights: Mapping[str, float] | None = None,
    ) -> Analysis:
        """The statistics of a split test (see :mod:`manhattan.analysis.types`);
        ``weights`` (population -> weight) replace those split() recorded."""
        result = self.call(
            "analyze",
            test_name,
            None if goals is None else list(goals),
            control,
            site_id,
            rollup_key,
            bucket_id,
            None if weights is None else dict(weights),
        )
        # The server's analyze() built it: its shape is Analysis.
        return cast(Analysis, _convert("analyze", _mapping, result))

    def sites(self) -> list[int]:
        """The ids of the sites with counts, in order."""
        return _convert("sites", _integers, self.call("sites"))

    def rollups(self) -> list[str]:
        """The keys of the rollups with counts, sorted (see
        :meth:`manhattan.backend.model.Queries.rollups`)."""
        return _convert("rollups", _texts, self.call("rollups"))

    def filtered(self) -> dict[str, int]:
        """Events not counted so far, by reason (``"awaiting pixel"``,
        ``"crawler"``...; see :meth:`manhattan.backend.model.Queries.filtered`)."""
        return _convert("filtered", _counts, self.call("filtered"))

    def breakdown(
        self,
        rollup_key: str,
        goals: Sequence[str],
        test_name: str | None = None,
        site_id: int | None = None,
        limit: int = 31,
        order: str = "bucket",
    ) -> dict[str, dict[str, dict[str, list[float]]]]:
        """``{bucket: {population: {goal: [visitors, value total]}}}`` of
        ``goals`` in up to ``limit`` buckets of a rollup (with a test, goal
        ``""`` holds each population's impressions); ``order`` ``"bucket"``
        takes the last bucket ids, ``"visitors"`` those with most visitors
        (see :meth:`manhattan.backend.persistence.SQLStore.breakdown`)."""
        result = self.call("breakdown", rollup_key, list(goals), test_name, site_id, limit, order)
        return _convert("breakdown", _breakdown, result)

    def live(self, minutes: int = 30, site_id: int | None = None) -> int:
        """Distinct visitors (bots left out) the counting server saw in the
        last ``minutes`` (1 to 60), on ``site_id`` or on any site (see
        :meth:`manhattan.backend.model.Queries.live`)."""
        return _convert("live", _integer, self.call("live", minutes, site_id))

    def funnels(self) -> list[dict[str, Any]]:
        """Every declared funnel as ``{"name", "steps", "within"}`` (the
        window in seconds or ``None``), in declaration order."""
        return _convert("funnels", _records, self.call("funnels"))

    def funnel(
        self,
        name: str,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> list[tuple[str, int]]:
        """``[(step, visitors who reached it in order), ...]`` of funnel
        ``name`` (see :meth:`manhattan.backend.model.Queries.funnel`)."""
        result = self.call("funnel", name, variant, rollup_key, bucket_id, site_id)
        return _convert("funnel", _named_counts, result)

    def pages(
        self,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        limit: int = 50,
    ) -> list[tuple[str, int, int]]:
        """``[(path, page views, visitors), ...]``, most viewed first; paths
        beyond the server's cap per site per day are ``"(other)"`` (see
        :meth:`manhattan.backend.model.Queries.pages`)."""
        result = self.call("pages", site_id, rollup_key, bucket_id, limit)
        return _convert("pages", _page_rows, result)

    def entry_pages(
        self,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        limit: int = 50,
    ) -> list[tuple[str, int]]:
        """``[(path, visits that began on it), ...]``, most first."""
        result = self.call("entry_pages", site_id, rollup_key, bucket_id, limit)
        return _convert("entry_pages", _named_counts, result)

    def page_totals(
        self, site_id: int | None = None, rollup_key: str = "day"
    ) -> list[tuple[str, int]]:
        """``[(bucket, page views), ...]`` of a page rollup, oldest first."""
        result = self.call("page_totals", site_id, rollup_key)
        return _convert("page_totals", _named_counts, result)

    def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        self._close_socket()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(connect={self.connect!r}, wait={self.wait})"

    def _timeout_message(self, method: str) -> str:
        if self._curve is None:
            keys = (
                "; a server bound beyond loopback requires its Curve key "
                "(curve_server_key, --curve-server-key)"
            )
        else:
            keys = (
                "; or it does not take these Curve keys (the server key is not its "
                "public key, or this client's key is not among its --curve-clients)"
            )
        return (
            f"no reply to {method} from {self.connect} within {self.wait} ms: "
            "the server may not be running, or be busy (check with "
            f"`manhattan-client --connect {self.connect} ping`){keys}"
        )

    def _connect(self) -> zmq.Socket[bytes]:
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            server, public, secret = self._curve
            socket.setsockopt(zmq.CURVE_SERVERKEY, server)
            socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
            socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
        try:
            socket.connect(self.connect)
        except zmq.ZMQError as exc:
            socket.close()
            raise ValueError(
                f"cannot connect to {self.connect!r}: {zmq.strerror(exc.errno or 0)}"
            ) from None
        return socket

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None


def _result(reply: bytes) -> Any:
    """The result in a reply frame, or :class:`ServerError`."""
    try:
        message = json.loads(reply)
    except ValueError:
        raise ServerError("MalformedReply", f"reply is not JSON: {reply[:100]!r}") from None
    if isinstance(message, dict):
        if "result" in message:
            return message["result"]
        error = message.get("error")
        if isinstance(error, dict):
            error_type, text = error.get("type"), error.get("message")
            if isinstance(error_type, str) and isinstance(text, str):
                raise reply_error(error_type, text)
    raise ServerError("MalformedReply", f"reply is neither a result nor an error: {message!r}")


def _convert(method: str, converter: Callable[[Any], T], value: Any) -> T:
    try:
        return converter(value)
    except (TypeError, ValueError):
        raise ServerError("MalformedReply", f"unexpected result for {method}: {value!r}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int):
        raise TypeError(value)
    return value


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, int | float):
        raise TypeError(value)
    return float(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(value)
    return value


def _test_rows(value: Any) -> list[tuple[str, float, float]]:
    rows = []
    for row in _list(value):
        name, first, last = _list(row)
        rows.append((_text(name), _number(first), _number(last)))
    return rows


def _page_rows(value: Any) -> list[tuple[str, int, int]]:
    rows = []
    for row in _list(value):
        path, views, visitors = _list(row)
        rows.append((_text(path), _integer(views), _integer(visitors)))
    return rows


def _named_counts(value: Any) -> list[tuple[str, int]]:
    rows = []
    for row in _list(value):
        name, number = _list(row)
        rows.append((_text(name), _integer(number)))
    return rows


def _result_table(value: Any) -> dict[str, list[float]]:
    if not isinstance(value, dict):
        raise TypeError(value)
    return {population: [_number(v) for v in _list(row)] for population, row in value.items()}


def _integers(value: Any) -> list[int]:
    return [_integer(item) for item in _list(value)]


def _texts(value: Any) -> list[str]:
    return [_text(item) for item in _list(value)]


def _counts(value: Any) -> dict[str, int]:
    return {reason: _integer(events) for reason, events in _mapping(value).items()}


def _breakdown(value: Any) -> dict[str, dict[str, dict[str, list[float]]]]:
    table = {}
    for bucket, populations in _mapping(value).items():
        table[bucket] = {
            population: {goal: _pair(cell) for goal, cell in _mapping(row).items()}
            for population, row in _mapping(populations).items()
        }
    return table


def _pair(value: Any) -> list[float]:
    visitors, total = _list(value)
    return [_integer(visitors), _number(total)]


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(value)
    return value


def _records(value: Any) -> list[dict[str, Any]]:
    records = _list(value)
    for record in records:
        if not isinstance(record, dict):
            raise TypeError(record)
    return records


__all__ = ["DEFAULT_CONNECT", "DEFAULT_WAIT", "Client", "ServerError", "ServerQueryError"]
