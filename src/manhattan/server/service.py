"""The query service: the server's read-only query API over ZeroMQ.

Wire protocol
-------------
The service listens on a ROUTER socket (default ``tcp://127.0.0.1:5555``), so
any number of clients may talk to it at once and a client that gave up on a
reply wedges nothing.

A request is one frame of UTF-8 JSON (at most :data:`MAX_REQUEST_BYTES`)::

    {"method": "count", "args": ["signup"], "kwargs": {"site_id": 1}}

``args`` (a list) and ``kwargs`` (an object) are optional; no other field is
allowed. Standard JSON only: ``NaN`` and ``Infinity`` are refused. Arrays
arrive as lists, so a variant is ``["test", "population"]``.

The reply is one frame of JSON, either ``{"result": <value>}`` or
``{"error": {"type": "<name>", "message": "<text>"}}``. Tuples in results
become lists; a non-finite float (NaN, infinity) becomes ``null``, so every
reply is valid JSON.

Frames before the request frame are a routing envelope and are echoed, in
order, before the reply frame. A REQ socket therefore sees a plain
request/reply exchange, and a DEALER may put its own frames (a request id,
say) in front of the request to match replies to requests.

Methods: :data:`QUERY_METHODS` call the queries object; ``ping`` (no
arguments) is answered ``"pong"`` by the service itself, to check that it is
up without touching the store. A store answers every query but ``analyze``
and ``live``: :class:`StoreQueries` composes ``analyze`` from the store's
``test_stats`` and the statistics of :mod:`manhattan.analysis`, and answers
``live`` from the counting server's
:class:`~manhattan.backend.live.LiveVisitors`. Error types:

``MethodNotAllowed``
    any other method name (``flush``, ``__init__``, ``count.__globals__``...)
``RequestTooLarge``
    a request frame over :data:`MAX_REQUEST_BYTES`, refused unparsed
``MalformedRequest``
    not UTF-8 JSON, not an object, a missing or non-string method, ``args``
    not a list, ``kwargs`` not an object, an unknown field
``TypeError``
    arguments the method does not take
``EncodingError``
    a result that is not JSON data (a bug in the queries object)
anything else
    the class name of what the queries object raised (``QueryError`` for a
    query that cannot be answered)

None of these stops the service.

Queries are answered on a small pool of threads (:data:`DEFAULT_WORKERS`),
so one slow query does not hold the others; the queries object must be safe
to call from several threads at once (:class:`~manhattan.backend.persistence.SQLStore`
is). Replies leave in the order queries finish, so a DEALER that sends
several requests at once matches them by its own envelope frames.

Security: the service answers whoever can reach it. Without a Curve key it
therefore binds only loopback (or ``ipc://``) addresses. With
``curve_secret_key`` it speaks CurveZMQ: traffic is encrypted and only
clients holding the service's public key can talk to it; ``curve_clients``
narrows that to the clients whose public keys it lists. A client without
the right keys gets no answer at all (ZeroMQ drops the connection during
the handshake), so it sees a timeout.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from socket import socketpair
from types import TracebackType
from typing import Any, cast

import zmq
from zmq.auth.thread import ThreadAuthenticator

from manhattan.analysis import report
from manhattan.analysis.types import Analysis
from manhattan.backend.live import LiveVisitors
from manhattan.backend.model import QUERY_NAMES, Queries, QueryError, StatsReader
from manhattan.endpoints import check_endpoint, is_loopback_endpoint
from manhattan.exceptions import BindError as BindError
from manhattan.exceptions import RequestError as RequestError
from manhattan.exceptions import ServiceError as ServiceError
from manhattan.keys import KeyFileError, check_clients_directory, load_secret_key

DEFAULT_BIND = "tcp://127.0.0.1:5555"

DEFAULT_WORKERS = 4
"""Threads answering queries at once."""

PENDING_PER_WORKER = 16
"""Requests per worker taken in (answering or waiting to) before the service
stops reading more."""

QUERY_METHODS = frozenset(QUERY_NAMES)
"""The only methods of the queries object a request may call: those the
:class:`~manhattan.backend.model.Queries` protocol declares."""

PING = "ping"

MAX_REQUEST_BYTES = 64 * 1024
"""Request frames larger than this get an error reply without being parsed."""

MAX_MESSAGE_BYTES = 1024 * 1024
"""ZeroMQ drops a peer that sends a frame larger than this, unread, so a
runaway client cannot make the service buffer arbitrary amounts."""

REQUEST_FIELDS = frozenset({"method", "args", "kwargs"})

DAY_SECONDS = 86_400.0
"""Seconds in a day: the analysis takes a test's age in days."""

logger = logging.getLogger(__name__)


class StoreQueries:
    """The :class:`~manhattan.backend.model.Queries` of a server over
    ``store``: the store's own reads, and :meth:`analyze` computed here.

    The store stores and reads; the statistics are the server's, so the
    store needs no analysis and the analysis no store. :meth:`live` is
    answered from ``tracker``, the live visitors the counting server's
    aggregator feeds (``None``: a server that only answers queries). Every
    other query is the store's method itself (nothing else of the store is
    reachable through this object).
    """

    def __init__(
        self,
        store: StatsReader,
        clock: Callable[[], float] = time.time,
        *,
        tracker: LiveVisitors | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.tracker = tracker

    def __getattr__(self, name: str) -> Any:
        # Only called for names the class lacks: analyze and live never get here.
        if name in QUERY_METHODS:
            return getattr(self.store, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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
        """:func:`manhattan.analysis.report.analyze` of the store's
        ``test_stats`` (see :meth:`manhattan.backend.model.Queries.analyze`),
        by the test's recorded plan; its age (for the days remaining) runs
        from its first split to its end, or now. The answer also has the
        test's ``warnings`` (maybe none) and, once it has ended, ``ended``:
        when, and the winner it serves."""
        if not isinstance(test_name, str) or not test_name:
            raise QueryError("analyze() needs a test name")
        stats = self.store.test_stats(test_name, rollup_key, bucket_id, site_id, goals)
        elapsed = None
        if stats.started is not None:
            until = self.clock() if stats.ended is None else stats.ended
            elapsed = max(0.0, until - stats.started) / DAY_SECONDS
        analysis = report.analyze(
            stats, goals, control, weights, plan=stats.plan, elapsed_days=elapsed
        )
        analysis["warnings"] = list(stats.warnings)
        if stats.ended is not None:
            winner = None if stats.plan is None else stats.plan.winner
            analysis["ended"] = {"at": stats.ended, "winner": winner}
        return analysis

    def live(self, minutes: int = 30, site_id: int | None = None) -> int:
        """Distinct human visitors seen in the last ``minutes`` (see
        :meth:`manhattan.backend.model.Queries.live`); :class:`QueryError`
        without a tracker, and for a site the store never counted when
        nobody is live there."""
        if self.tracker is None:
            raise QueryError(
                "live() is answered by a server that counts the log; this one only "
                "answers queries (--query-only) and sees no visitors come"
            )
        visitors = self.tracker.count(minutes, site_id)
        if not visitors and site_id is not None:
            sites = self.sites()  # the store's, through __getattr__
            if sites and site_id not in sites:
                known = ", ".join(map(str, sites))
                raise QueryError(f"no site {site_id} (known sites: {known})")
        return visitors


def serving(queries: Queries | StatsReader) -> Queries:
    """``queries`` as the service answers them: a store (a
    :class:`~manhattan.backend.model.StatsReader` without ``analyze``) in
    a :class:`StoreQueries`; anything else as it is."""
    if isinstance(queries, StatsReader) and not hasattr(queries, "analyze"):
        return StoreQueries(queries)
    return cast(Queries, queries)


def answer(queries: Queries, request: bytes) -> bytes:
    """The reply frame to the ``request`` frame. Never raises."""
    try:
        method, args, kwargs = parse_request(request)
        result = call(queries, method, args, kwargs)
    except RequestError as exc:
        return error_reply(exc.type, str(exc))
    except Exception as exc:
        return error_reply(type(exc).__name__, str(exc))
    try:
        try:
            # Most results hold no NaN or infinity: skip the walk that replaces them.
            return json.dumps({"result": result}, allow_nan=False, separators=(",", ":")).encode()
        except ValueError:
            return json.dumps(
                {"result": _finite(result)}, allow_nan=False, separators=(",", ":")
            ).encode()
    except Exception:
        # TypeError (a set...), ValueError, RecursionError (a cycle): a bug
        # in the queries object, which must not end the service thread.
        logger.exception("query %s returned a result that is not JSON data", method)
        return error_reply("EncodingError", f"{method} returned a result that is not JSON data")


def parse_request(request: bytes) -> tuple[str, list[Any], dict[str, Any]]:
    """``(method, args, kwargs)`` of a request frame, or :class:`RequestError`."""
    if len(request) > MAX_REQUEST_BYTES:
        raise RequestError(
            "RequestTooLarge",
            f"request of {len(request)} bytes exceeds the limit of {MAX_REQUEST_BYTES}",
        )
    try:
        message = json.loads(request.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; so is an
        # integer literal longer than Python's digit limit.
        raise RequestError("MalformedRequest", f"request is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise RequestError("MalformedRequest", "request must be a JSON object")
    unknown = sorted(message.keys() - REQUEST_FIELDS)
    if unknown:
        raise RequestError("MalformedRequest", f"unknown request field(s): {', '.join(unknown)}")
    method = message.get("method")
    args = message.get("args", [])
    kwargs = message.get("kwargs", {})
    if not isinstance(method, str):
        raise RequestError("MalformedRequest", "request needs a string 'method'")
    if not isinstance(args, list):
        raise RequestError("MalformedRequest", "'args' must be a list")
    if not isinstance(kwargs, dict):
        raise RequestError("MalformedRequest", "'kwargs' must be an object")
    return method, args, kwargs


def call(queries: Queries, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call an allowed ``method`` of ``queries``; :class:`RequestError` for
    refused methods and bad arguments. What the query raises propagates."""
    if method == PING:
        if args or kwargs:
            raise RequestError("TypeError", "ping() takes no arguments")
        return "pong"
    if method not in QUERY_METHODS:
        raise RequestError(
            "MethodNotAllowed",
            f"method {method!r} is not allowed; allowed: {', '.join(sorted(QUERY_METHODS))}",
        )
    function = getattr(queries, method)
    try:
        return function(*args, **kwargs)
    except TypeError as exc:
        if _bad_arguments(function, args, kwargs):
            logger.debug("refused %s call: %s", method, exc)
            raise RequestError("TypeError", str(exc)) from None
        logger.exception("query %s failed", method)
        raise
    except QueryError as exc:
        logger.debug("query %s: %s", method, exc)
        raise
    except Exception:
        logger.exception("query %s failed", method)
        raise


def error_reply(error_type: str, message: str) -> bytes:
    """An error reply frame."""
    return json.dumps({"error": {"type": error_type, "message": message}}).encode()


class QueryService:
    """Serves ``queries`` on ``bind`` from a background thread; a store
    (a :class:`~manhattan.backend.model.StatsReader`, such as
    :class:`~manhattan.backend.persistence.SQLStore`) is served with
    ``analyze`` composed (:class:`StoreQueries`).

    ``bind`` may use port ``0`` or ``*`` for a free port; :attr:`address` then
    tells which. Use as a context manager, or call :meth:`start` and
    :meth:`stop`. Without a ``context`` the service makes its own, so that
    its port is free again when :meth:`stop` returns; with one, ZeroMQ frees
    the port a moment later.

    ``curve_secret_key`` is the service's secret certificate file
    (``manhattan-keys``, :mod:`manhattan.keys`): with it the port speaks
    CurveZMQ, and only clients holding its public key get an answer; with
    ``curve_clients`` as well (a directory of clients' public ``.key``
    files, read at :meth:`start`), only those clients. Without a key the
    service binds loopback (or ``ipc://``) addresses only.

    ``workers`` threads answer queries, so that one slow query does not
    hold the others (the queries object must be safe to call from several
    threads at once; ``workers=1`` answers one at a time). At most
    :data:`PENDING_PER_WORKER` requests per worker are taken in; beyond
    that, requests wait in ZeroMQ's queue.
    """

    def __init__(
        self,
        queries: Queries | StatsReader,
        bind: str = DEFAULT_BIND,
        *,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        curve_secret_key: str | os.PathLike[str] | None = None,
        curve_clients: str | os.PathLike[str] | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number of at least 1, not {workers!r}")
        if curve_clients is not None and curve_secret_key is None:
            raise ValueError("curve_clients needs curve_secret_key: the service's own key")
        self.queries = serving(queries)
        self.bind = bind
        self.workers = workers
        self.curve_secret_key = curve_secret_key
        self.curve_clients = curve_clients
        self._context = context
        self._address = bind
        self._waker: zmq.Socket[bytes] | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """The endpoint actually bound (the ``bind`` asked for before :meth:`start`)."""
        return self._address

    @property
    def running(self) -> bool:
        """Whether the service thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind and start answering; :class:`BindError` if the address cannot
        be bound (or is not loopback without a key), :class:`ServiceError` for
        unusable key files."""
        if self._thread is not None:
            raise RuntimeError("query service already started")
        secret = self._check()
        # Without a given context the service has its own, terminated when
        # the thread ends: closing a socket is asynchronous in ZeroMQ, and only
        # the end of its context guarantees the port is free when stop() returns.
        context = self._context if self._context is not None else zmq.Context()
        try:
            authenticator = self._authenticator(context)
        except zmq.ZMQError as exc:
            # Only a given context can already have a handler (its own is fresh).
            raise ServiceError(
                f"cannot check the clients of the query service on {self.bind}: "
                f"{zmq.strerror(exc.errno or 0)} (a context has one ZAP handler: "
                "give each service with curve_clients a context of its own)"
            ) from None
        socket = context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if secret is not None:
            socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
            socket.setsockopt(zmq.CURVE_SERVER, 1)
        try:
            socket.bind(self.bind)
        except zmq.ZMQError as exc:
            socket.close()
            if authenticator is not None:
                authenticator.stop()
            if self._context is None:
                context.term()
            raise BindError(
                f"cannot bind the query service to {self.bind}: {zmq.strerror(exc.errno or 0)}"
            ) from None
        self._address = socket.getsockopt_string(zmq.LAST_ENDPOINT)
        # stop() wakes the thread through this pair at once, where polling
        # a flag would delay it and wake an idle server for nothing.
        wake_address = f"inproc://manhattan-query-service-{uuid.uuid4().hex}"
        wake = context.socket(zmq.PAIR)
        wake.bind(wake_address)
        self._waker = context.socket(zmq.PAIR)
        self._waker.connect(wake_address)
        # Both sockets move to the service thread here and are only used
        # there: ZeroMQ sockets may change threads, never be shared by two.
        self._thread = threading.Thread(
            target=self._serve,
            args=(socket, wake, None if self._context is not None else context, authenticator),
            name=f"query service {self._address}",
            daemon=True,
        )
        self._thread.start()

    def _check(self) -> bytes | None:
        """The secret key (``None`` without Curve), once the address and the
        key files are known to be usable."""
        try:
            check_endpoint(self.bind)
        except ValueError as exc:
            raise BindError(f"cannot bind the query service to {self.bind}: {exc}") from None
        if self.curve_secret_key is None:
            if not is_loopback_endpoint(self.bind):
                raise BindError(
                    f"refusing to answer queries on {self.bind} without a Curve key: "
                    "anyone who can reach it could read every count. Bind a loopback "
                    "address (tcp://127.0.0.1:PORT), or make keys with manhattan-keys "
                    "and pass --curve-secret-key"
                )
            return None
        try:
            _, secret = load_secret_key(self.curve_secret_key)
            if self.curve_clients is not None:
                check_clients_directory(self.curve_clients)
        except KeyFileError as exc:
            raise ServiceError(str(exc)) from None
        return secret

    def _authenticator(
        self, context: zmq.Context[zmq.Socket[bytes]]
    ) -> ThreadAuthenticator | None:
        """The handler that admits only the listed clients (none: any client
        that knows the service's public key)."""
        if self.curve_clients is None:
            return None
        authenticator = ThreadAuthenticator(context, log=logger)
        try:
            authenticator.start()
        except zmq.ZMQError:
            authenticator.stop()
            raise
        authenticator.configure_curve(domain="*", location=os.fspath(self.curve_clients))
        return authenticator

    def stop(self, timeout: float = 1.0) -> None:
        """Stop answering and close the socket.

        Waits up to ``timeout`` seconds; queries still running then are left
        to finish (a warning is logged) and the socket closes right after
        them. Requests not started yet get no answer. Call from one thread
        at a time.
        """
        thread = self._thread
        if thread is None:
            return
        if self._waker is not None:
            # Sent once: an inproc pipe still delivers it after the close.
            self._waker.send(b"")
            self._waker.close()
            self._waker = None
        thread.join(timeout)
        if thread.is_alive():
            logger.warning(
                "query service on %s still busy after %s s; it stops when the query returns",
                self._address,
                timeout,
            )

    def __enter__(self) -> QueryService:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(
        self,
        socket: zmq.Socket[bytes],
        wake: zmq.Socket[bytes],
        own_context: zmq.Context[zmq.Socket[bytes]] | None,
        authenticator: ThreadAuthenticator | None,
    ) -> None:
        # Workers cannot send on the ROUTER (a socket is for one thread):
        # they queue their replies and write a byte each to this pair, which
        # wakes the service thread's poll to send them.
        replies: queue.SimpleQueue[list[bytes]] = queue.SimpleQueue()
        ready, done = socketpair()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"query {self._address}")

        def work(frames: list[bytes]) -> None:
            frames[-1] = answer(self.queries, frames[-1])
            replies.put(frames)
            done.send(b"\0")

        limit = self.workers * PENDING_PER_WORKER
        pending = 0
        poller = zmq.Poller()
        poller.register(wake, zmq.POLLIN)
        # A native socket is polled, and reported, by its file descriptor.
        poller.register(ready.fileno(), zmq.POLLIN)
        try:
            while True:
                # Past the limit, requests stay in ZeroMQ's bounded queue.
                poller.register(socket, zmq.POLLIN if pending < limit else 0)
                events = dict(poller.poll())
                if wake in events:
                    break
                if ready.fileno() in events:
                    # Each byte stands for a reply already queued.
                    for _ in ready.recv(limit):
                        # Without ROUTER_MANDATORY a reply to a client that
                        # went away is dropped, never blocks.
                        socket.send_multipart(replies.get())
                        pending -= 1
                if socket in events:
                    pool.submit(work, socket.recv_multipart())
                    pending += 1
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            ready.close()
            done.close()
            socket.close(linger=0)
            wake.close(linger=0)
            if authenticator is not None:
                authenticator.stop()
            if own_context is not None:
                # Returns once stop() has closed its end of the wake pair.
                own_context.term()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not standard JSON")


def _finite(value: Any) -> Any:
    """``value`` with tuples as lists and non-finite floats as ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def _bad_arguments(function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether ``function`` does not take these arguments (a TypeError from
    the caller's side rather than a bug inside the function)."""
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        # ValueError: no signature to check (a builtin); blame the arguments.
        return True
    return False
