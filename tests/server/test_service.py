"""QueryService: a real queries object served over real sockets on 127.0.0.1."""

import json
import logging
import math
import re
import threading

import pytest
import zmq

from manhattan.backend.model import QUERY_NAMES, QueryError
from manhattan.client import Client
from manhattan.server.service import (
    MAX_REQUEST_BYTES,
    PENDING_PER_WORKER,
    QUERY_METHODS,
    BindError,
    QueryService,
    ServiceError,
    answer,
)
from tests.test_keys import make_keys

REPLY_WAIT_MS = 5000  # only ever elapses when a test is failing

COUNTS = {
    ("signup", None, "all", 0, None): 12,
    ("signup", ("Button", "red"), "all", 0, None): 5,
    (None, ("Button", "red"), "all", 0, None): 40,
    ("signup", None, "day", "2024-03-01", 1): 3,
}
VALUES = {
    ("revenue", None): 99.5,
    ("revenue", ("Button", "red")): 20.0,
    ("rate", None): math.nan,
    ("revenue", ("Button", "blue")): math.inf,
    ("signup", ("Button", "blue")): 3.0,
}
ROLLUPS = {"all", "day"}


class DictQueries:
    """The Queries API over dicts, counting the calls it gets."""

    def __init__(self):
        self.calls = []
        self.flushed = 0

    def count(self, goal=None, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        self.calls.append("count")
        if rollup_key not in ROLLUPS:
            raise QueryError(f"unknown rollup {rollup_key!r}")
        key = (goal, tuple(variant) if variant else None, rollup_key, bucket_id, site_id)
        return COUNTS.get(key, 0)

    def goal_value(self, goal, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        self.calls.append("goal_value")
        return VALUES.get((goal, tuple(variant) if variant else None), 0.0)

    def all_tests(self):
        self.calls.append("all_tests")
        return [("Button", 100.0, 300.0), ("Old", 10.0, 50.0)]

    def results(self, test_name, goals, site_id=None):
        self.calls.append("results")
        return {
            population: [self.goal_value(goal, (test_name, population)) for goal in goals]
            for population in ("red", "blue")
        }

    def goals(self):
        self.calls.append("goals")
        return [{"name": "revenue", "value_type": "SUM", "value_format": "$", "first": 1.0}]

    def tests(self):
        self.calls.append("tests")
        return [{"name": "Button", "populations": ["red", "blue"], "crossovers": 0}]

    def flush(self):
        self.flushed += 1

    def _private(self):
        self.flushed += 1


@pytest.fixture
def queries():
    return DictQueries()


@pytest.fixture
def service(queries):
    service = QueryService(queries, "tcp://127.0.0.1:0")
    service.start()
    yield service
    service.stop()


def exchange(address, *frames, socket_type=zmq.DEALER):
    """Send ``frames`` from a fresh socket; the reply's frames."""
    socket = zmq.Context.instance().socket(socket_type)
    socket.linger = 0
    try:
        socket.connect(address)
        socket.send_multipart(list(frames))
        assert socket.poll(REPLY_WAIT_MS), "no reply"
        return socket.recv_multipart()
    finally:
        socket.close()


def ask(address, request):
    """The decoded reply to ``request`` (bytes as they are, anything else as JSON)."""
    frame = request if isinstance(request, bytes) else json.dumps(request).encode()
    [reply] = exchange(address, frame)
    return json.loads(reply)


def assert_still_serving(address):
    assert ask(address, {"method": "count", "args": ["signup"]}) == {"result": 12}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param({"method": "count"}, 0, id="count-everything"),
        pytest.param({"method": "count", "args": ["signup"]}, 12, id="count-goal"),
        pytest.param(
            {"method": "count", "args": ["signup", ["Button", "red"]]}, 5, id="count-variant"
        ),
        pytest.param(
            {"method": "count", "kwargs": {"variant": ["Button", "red"]}},
            40,
            id="count-impressions",
        ),
        pytest.param(
            {
                "method": "count",
                "args": ["signup"],
                "kwargs": {"rollup_key": "day", "bucket_id": "2024-03-01", "site_id": 1},
            },
            3,
            id="count-args-and-kwargs",
        ),
        pytest.param({"method": "goal_value", "args": ["revenue"]}, 99.5, id="goal-value"),
        pytest.param({"method": "goal_value", "args": ["rate"]}, None, id="nan-is-null"),
        pytest.param(
            {"method": "all_tests"},
            [["Button", 100.0, 300.0], ["Old", 10.0, 50.0]],
            id="all-tests-tuples-are-lists",
        ),
        pytest.param(
            {"method": "results", "args": ["Button", ["signup", "revenue"]]},
            {"red": [0.0, 20.0], "blue": [3.0, None]},
            id="results-inf-is-null",
        ),
        pytest.param(
            {"method": "goals"},
            [{"name": "revenue", "value_type": "SUM", "value_format": "$", "first": 1.0}],
            id="goals",
        ),
        pytest.param(
            {"method": "tests"},
            [{"name": "Button", "populations": ["red", "blue"], "crossovers": 0}],
            id="tests",
        ),
        pytest.param({"method": "ping"}, "pong", id="ping"),
        pytest.param({"method": "ping", "args": [], "kwargs": {}}, "pong", id="ping-empty-args"),
    ],
)
def test_answers_queries(service, request_, expected):
    assert ask(service.address, request_) == {"result": expected}


def test_ping_does_not_touch_the_queries_object(service, queries):
    assert ask(service.address, {"method": "ping"}) == {"result": "pong"}
    assert queries.calls == []


def test_query_methods_are_exactly_the_read_only_queries():
    assert (
        frozenset(
            {
                "count",
                "goal_value",
                "all_tests",
                "results",
                "goals",
                "tests",
                "analyze",
                "sites",
                "rollups",
                "breakdown",
                "filtered",
                "live",
                "pages",
                "entry_pages",
                "page_totals",
                "funnels",
                "funnel",
            }
        )
        == QUERY_METHODS
    )


def test_query_methods_are_those_the_protocol_declares():
    assert frozenset(QUERY_NAMES) == QUERY_METHODS


def test_query_error_is_an_error_reply_with_its_message(service):
    reply = ask(service.address, {"method": "count", "kwargs": {"rollup_key": "bogus"}})

    assert reply == {"error": {"type": "QueryError", "message": "unknown rollup 'bogus'"}}
    assert_still_serving(service.address)


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("flush", id="flush"),
        pytest.param("__init__", id="init"),
        pytest.param("_private", id="private"),
        pytest.param("__class__", id="class"),
        pytest.param("count.__globals__", id="dotted"),
        pytest.param("__getattribute__", id="getattribute"),
        pytest.param("", id="empty"),
        pytest.param("COUNT", id="case-matters"),
    ],
)
def test_refuses_other_methods_naming_them(service, queries, method):
    reply = ask(service.address, {"method": method})

    assert reply["error"]["type"] == "MethodNotAllowed"
    assert repr(method) in reply["error"]["message"]
    assert queries.flushed == 0
    assert queries.calls == []
    assert_still_serving(service.address)


@pytest.mark.parametrize(
    ("frame", "error_type", "message_part"),
    [
        pytest.param(b"{", "MalformedRequest", "not JSON", id="not-json"),
        pytest.param(b"", "MalformedRequest", "not JSON", id="empty-frame"),
        pytest.param(b'{"method": "\xff"}', "MalformedRequest", "not JSON", id="not-utf8"),
        pytest.param(b'{"method": NaN}', "MalformedRequest", "NaN", id="nan-constant"),
        pytest.param(b"[" * 50000, "MalformedRequest", "not JSON", id="deep-nesting"),
        pytest.param(b"1" * 5000, "MalformedRequest", "not JSON", id="huge-integer"),
        pytest.param(b'["count"]', "MalformedRequest", "JSON object", id="json-list"),
        pytest.param(b'"count"', "MalformedRequest", "JSON object", id="json-string"),
        pytest.param(b"{}", "MalformedRequest", "method", id="missing-method"),
        pytest.param(b'{"method": 5}', "MalformedRequest", "method", id="method-not-string"),
        pytest.param(b'{"method": null}', "MalformedRequest", "method", id="method-null"),
        pytest.param(
            b'{"method": "count", "args": "signup"}', "MalformedRequest", "args", id="args-string"
        ),
        pytest.param(
            b'{"method": "count", "args": {"goal": "signup"}}',
            "MalformedRequest",
            "args",
            id="args-object",
        ),
        pytest.param(
            b'{"method": "count", "kwargs": ["signup"]}',
            "MalformedRequest",
            "kwargs",
            id="kwargs-list",
        ),
        pytest.param(
            b'{"method": "count", "kwarg": {}, "id": 1}',
            "MalformedRequest",
            "id, kwarg",
            id="unknown-fields",
        ),
        pytest.param(
            b'{"method": "count", "kwargs": {"gaol": "signup"}}',
            "TypeError",
            "gaol",
            id="kwargs-unknown-name",
        ),
        pytest.param(
            b'{"method": "all_tests", "args": [1]}', "TypeError", "argument", id="too-many-args"
        ),
        pytest.param(b'{"method": "goal_value"}', "TypeError", "goal", id="missing-required-arg"),
        pytest.param(
            b'{"method": "count", "args": ["signup"], "kwargs": {"goal": "signup"}}',
            "TypeError",
            "multiple values",
            id="arg-given-twice",
        ),
        pytest.param(b'{"method": "ping", "args": [1]}', "TypeError", "ping", id="ping-args"),
        pytest.param(
            b'{"method": "ping", "kwargs": {"a": 1}}', "TypeError", "ping", id="ping-kwargs"
        ),
        pytest.param(
            b" " * MAX_REQUEST_BYTES + b"{}",
            "RequestTooLarge",
            str(MAX_REQUEST_BYTES + 2),
            id="over-64-KiB",
        ),
    ],
)
def test_malformed_requests_get_error_replies(service, queries, frame, error_type, message_part):
    reply = ask(service.address, frame)

    assert reply["error"]["type"] == error_type
    assert message_part in reply["error"]["message"]
    assert queries.calls == []
    assert_still_serving(service.address)


def test_request_of_exactly_the_size_limit_is_answered(service):
    body = b'{"method": "count", "args": ["signup"]}'
    frame = body + b" " * (MAX_REQUEST_BYTES - len(body))

    assert len(frame) == MAX_REQUEST_BYTES
    assert ask(service.address, frame) == {"result": 12}


def test_frame_over_the_message_limit_drops_the_sender_and_serving_goes_on(service):
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(service.address)
    try:
        socket.send(b" " * (2 * 1024 * 1024))
        assert_still_serving(service.address)
        assert socket.poll(200) == 0
    finally:
        socket.close()


class FailingQueries(DictQueries):
    def goals(self):
        raise RuntimeError("disk on fire")

    def tests(self):
        return {"a set is not JSON data"}

    def all_tests(self):
        return len(None)  # a TypeError inside the query, not in its arguments

    def results(self, test_name, goals, site_id=None):
        return {("tuple", "key"): [1.0]}


@pytest.mark.parametrize(
    ("method", "error_type", "message"),
    [
        pytest.param("goals", "RuntimeError", "disk on fire", id="exception"),
        pytest.param(
            "all_tests",
            "TypeError",
            "object of type 'NoneType' has no len()",
            id="type-error-inside",
        ),
        pytest.param(
            "tests", "EncodingError", "tests returned a result that is not JSON data", id="set"
        ),
    ],
)
def test_unexpected_failures_are_error_replies_and_logged(caplog, method, error_type, message):
    with QueryService(FailingQueries(), "tcp://127.0.0.1:0") as service:
        reply = ask(service.address, {"method": method})
        assert_still_serving(service.address)

    assert reply == {"error": {"type": error_type, "message": message}}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert method in errors[0].getMessage()


class CyclicQueries(DictQueries):
    def goals(self):
        cycle = []
        cycle.append(cycle)
        return cycle


@pytest.mark.parametrize(
    ("queries", "request_"),
    [
        pytest.param(
            FailingQueries(), b'{"method": "results", "args": ["t", ["g"]]}', id="tuple-key"
        ),
        pytest.param(CyclicQueries(), b'{"method": "goals"}', id="cycle"),
    ],
)
def test_unencodable_results_are_encoding_errors(caplog, queries, request_):
    reply = json.loads(answer(queries, request_))

    assert reply["error"]["type"] == "EncodingError"
    assert "not JSON data" in caplog.text


def test_client_mistakes_are_not_logged_as_errors(service, caplog):
    ask(service.address, {"method": "flush"})
    ask(service.address, {"method": "count", "kwargs": {"bad": 1}})
    ask(service.address, {"method": "count", "kwargs": {"rollup_key": "bogus"}})
    ask(service.address, b"nonsense")
    assert_still_serving(service.address)

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


class BuiltinQueries(DictQueries):
    goals = staticmethod(vars)  # a query without an inspectable signature


def test_bad_arguments_to_a_query_without_signature_are_a_type_error():
    reply = json.loads(answer(BuiltinQueries(), b'{"method": "goals", "args": [1, 2]}'))

    assert reply["error"]["type"] == "TypeError"


def test_answer_encodes_compact_standard_json():
    reply = answer(DictQueries(), b'{"method": "goal_value", "args": ["rate"]}')

    assert reply == b'{"result":null}'


def test_req_socket_sees_plain_request_reply(service):
    reply = exchange(service.address, b'{"method": "ping"}', socket_type=zmq.REQ)

    assert reply == [b'{"result":"pong"}']


def test_envelope_frames_are_echoed_before_the_reply(service):
    reply = exchange(service.address, b"id-7", b"", b'{"method": "ping"}')

    assert reply == [b"id-7", b"", b'{"result":"pong"}']


@pytest.mark.parametrize(
    "bind",
    [pytest.param("tcp://127.0.0.1:0", id="port-0"), pytest.param("tcp://127.0.0.1:*", id="star")],
)
def test_address_is_the_endpoint_actually_bound(queries, bind):
    service = QueryService(queries, bind)
    assert service.address == bind

    with service:
        match = re.fullmatch(r"tcp://127\.0\.0\.1:(\d+)", service.address)
        assert match is not None
        assert int(match.group(1)) > 0
        assert ask(service.address, {"method": "ping"}) == {"result": "pong"}


def test_address_in_use_is_a_bind_error_naming_it(service, queries):
    other = QueryService(queries, service.address)

    with pytest.raises(BindError, match=re.escape(service.address)) as raised:
        other.start()

    assert isinstance(raised.value, OSError)
    assert "in use" in str(raised.value)
    assert not other.running
    assert_still_serving(service.address)


def test_bind_error_with_a_given_context_leaves_it_usable(service, queries):
    context = zmq.Context.instance()

    with pytest.raises(BindError, match="in use"):
        QueryService(queries, service.address, context=context).start()

    with QueryService(queries, "tcp://127.0.0.1:0", context=context) as other:
        assert_still_serving(other.address)


def test_invalid_address_is_a_bind_error(queries):
    with pytest.raises(BindError, match="cannot bind the query service to nonsense"):
        QueryService(queries, "nonsense").start()


def test_start_twice_is_refused(service):
    with pytest.raises(RuntimeError, match="already started"):
        service.start()


def test_stop_before_start_is_harmless(queries):
    service = QueryService(queries, "tcp://127.0.0.1:0")
    service.stop()

    assert not service.running


def test_stop_ends_the_thread_and_frees_the_address(queries):
    service = QueryService(queries, "tcp://127.0.0.1:0")
    service.start()
    assert service.running

    service.stop()
    service.stop()

    assert not service.running
    # The socket is closed: the same address binds again at once.
    with QueryService(queries, service.address) as again:
        assert_still_serving(again.address)


class BlockingQueries(DictQueries):
    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def goals(self):
        self.entered.set()
        assert self.release.wait(REPLY_WAIT_MS / 1000)
        return []


def test_stop_during_a_long_query_warns_and_closes_when_it_returns(caplog):
    queries = BlockingQueries()
    service = QueryService(queries, "tcp://127.0.0.1:0")
    service.start()
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(service.address)
    try:
        socket.send(b'{"method": "goals"}')
        assert queries.entered.wait(REPLY_WAIT_MS / 1000)

        service.stop(timeout=0.01)
        assert service.running
        assert "still busy" in caplog.text

        queries.release.set()
        service.stop()
        assert not service.running
    finally:
        socket.close()


def test_many_raw_clients_interleaved(service):
    sockets = []
    try:
        for i in range(20):
            socket = zmq.Context.instance().socket(zmq.DEALER)
            socket.linger = 0
            socket.connect(service.address)
            sockets.append(socket)
            socket.send_multipart([str(i).encode(), b'{"method": "count", "args": ["signup"]}'])
        for i, socket in enumerate(sockets):
            assert socket.poll(REPLY_WAIT_MS)
            assert socket.recv_multipart() == [str(i).encode(), b'{"result":12}']
    finally:
        for socket in sockets:
            socket.close()


def test_non_finite_numbers_deep_in_a_result_become_null() -> None:
    class Deep:
        def tests(self) -> list[dict[str, object]]:
            return [
                {"name": "T", "weights": {"a": 1.5, "b": math.inf}, "populations": ("a",), "n": 2}
            ]

    reply = json.loads(answer(Deep(), b'{"method": "tests"}'))  # type: ignore[arg-type]
    assert reply == {
        "result": [{"name": "T", "weights": {"a": 1.5, "b": None}, "populations": ["a"], "n": 2}]
    }


# -- who may ask: loopback only, or Curve ------------------------------------


@pytest.mark.parametrize(
    "bind",
    [
        pytest.param("tcp://0.0.0.0:0", id="any-v4"),
        pytest.param("tcp://*:0", id="wildcard"),
        pytest.param("tcp://[::]:0", id="any-v6"),
    ],
)
def test_a_bind_beyond_loopback_without_curve_is_refused(queries, bind):
    service = QueryService(queries, bind)

    with pytest.raises(BindError, match=re.escape(f"refusing to answer queries on {bind}")) as e:
        service.start()

    assert "manhattan-keys" in str(e.value)
    assert "\n" not in str(e.value)
    assert not service.running


def test_an_address_without_transport_suggests_tcp(queries):
    with pytest.raises(BindError, match=re.escape("did you mean 'tcp://127.0.0.1:5555'?")):
        QueryService(queries, "127.0.0.1:5555").start()


CURVE_WAIT_MS = 300  # a call meant to go unanswered waits this long


@pytest.fixture
def keys(tmp_path):
    return make_keys(tmp_path)


def test_curve_answers_only_clients_with_the_server_key(queries, keys):
    with QueryService(queries, "tcp://0.0.0.0:0", curve_secret_key=keys.server_secret) as service:
        address = service.address.replace("0.0.0.0", "127.0.0.1")
        with Client(address, wait=REPLY_WAIT_MS, curve_server_key=keys.server_public) as client:
            assert client.count("signup") == 12
        with (
            Client(address, wait=CURVE_WAIT_MS) as plain,
            pytest.raises(TimeoutError, match="requires its Curve key"),
        ):
            plain.ping()
        with (
            Client(address, wait=CURVE_WAIT_MS, curve_server_key=keys.stranger_public) as wrong,
            pytest.raises(TimeoutError, match="does not take these Curve keys"),
        ):
            wrong.ping()
    assert queries.calls == ["count"]


def test_curve_clients_admits_only_listed_keys(queries, keys):
    service = QueryService(
        queries,
        "tcp://127.0.0.1:0",
        curve_secret_key=keys.server_secret,
        curve_clients=keys.clients,
    )
    with service:
        listed = {"curve_server_key": keys.server_public, "curve_secret_key": keys.client_secret}
        with Client(service.address, wait=REPLY_WAIT_MS, **listed) as client:
            assert client.count("signup") == 12
        stranger = {
            "curve_server_key": keys.server_public,
            "curve_secret_key": keys.stranger_secret,
        }
        for options in (stranger, {"curve_server_key": keys.server_public}):
            with (
                Client(service.address, wait=CURVE_WAIT_MS, **options) as refused,
                pytest.raises(TimeoutError, match="not among its --curve-clients"),
            ):
                refused.ping()
    assert queries.calls == ["count"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"curve_secret_key": "missing.key_secret"}, "does not exist", id="no-file"),
        pytest.param({"curve_secret_key": "server.key"}, "holds no secret key", id="public"),
        pytest.param(
            {"curve_secret_key": "server.key_secret", "curve_clients": "nowhere"},
            "curve clients directory .*nowhere does not exist",
            id="no-clients-dir",
        ),
        pytest.param(
            {"curve_secret_key": "server.key_secret", "curve_clients": "empty"},
            r"holds no public key \(\*\.key\) files",
            id="empty-clients-dir",
        ),
    ],
)
def test_unusable_curve_files_are_service_errors(queries, keys, tmp_path, options, message):
    (tmp_path / "empty").mkdir()
    paths = {name: tmp_path / value for name, value in options.items()}
    service = QueryService(queries, "tcp://127.0.0.1:0", **paths)

    with pytest.raises(ServiceError, match=message) as raised:
        service.start()

    assert isinstance(raised.value, OSError)
    assert not service.running


def test_bind_error_with_curve_clients_stops_the_authenticator(service, queries, keys):
    other = QueryService(
        queries, service.address, curve_secret_key=keys.server_secret, curve_clients=keys.clients
    )
    with pytest.raises(BindError, match="in use"):
        other.start()

    # The ZAP handler it started is gone with its context: another one starts.
    with QueryService(
        queries,
        "tcp://127.0.0.1:0",
        curve_secret_key=keys.server_secret,
        curve_clients=keys.clients,
    ) as again:
        secret = {"curve_server_key": keys.server_public, "curve_secret_key": keys.client_secret}
        with Client(again.address, wait=REPLY_WAIT_MS, **secret) as client:
            assert client.ping() == "pong"


def test_two_services_checking_clients_cannot_share_a_context(queries, keys):
    context = zmq.Context()
    options = {"curve_secret_key": keys.server_secret, "curve_clients": keys.clients}
    try:
        with QueryService(queries, "tcp://127.0.0.1:0", context=context, **options):
            second = QueryService(queries, "tcp://127.0.0.1:0", context=context, **options)
            with pytest.raises(ServiceError, match="a context has one ZAP handler"):
                second.start()
            assert not second.running
    finally:
        context.term()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"workers": 0}, "workers must be a whole number", id="no-workers"),
        pytest.param({"workers": True}, "workers must be a whole number", id="bool-workers"),
        pytest.param({"curve_clients": "clients"}, "curve_clients needs", id="clients-alone"),
    ],
)
def test_bad_options_are_value_errors(queries, options, message):
    with pytest.raises(ValueError, match=message):
        QueryService(queries, "tcp://127.0.0.1:0", **options)


# -- one slow query does not hold the others ----------------------------------


def test_a_slow_query_does_not_hold_the_others():
    queries = BlockingQueries()
    with QueryService(queries, "tcp://127.0.0.1:0") as service:
        slow = zmq.Context.instance().socket(zmq.DEALER)
        slow.linger = 0
        slow.connect(service.address)
        try:
            slow.send(b'{"method": "goals"}')
            assert queries.entered.wait(REPLY_WAIT_MS / 1000)

            assert_still_serving(service.address)  # while goals() still runs

            queries.release.set()
            assert slow.poll(REPLY_WAIT_MS)
            assert slow.recv_multipart() == [b'{"result":[]}']
        finally:
            slow.close()


def test_with_one_worker_queries_wait_their_turn():
    queries = BlockingQueries()
    with QueryService(queries, "tcp://127.0.0.1:0", workers=1) as service:
        sockets = [zmq.Context.instance().socket(zmq.DEALER) for _ in range(2)]
        try:
            for socket in sockets:
                socket.linger = 0
                socket.connect(service.address)
            sockets[0].send(b'{"method": "goals"}')
            assert queries.entered.wait(REPLY_WAIT_MS / 1000)
            sockets[1].send(b'{"method": "ping"}')
            assert sockets[1].poll(100) == 0

            queries.release.set()
            assert sockets[1].poll(REPLY_WAIT_MS)
            assert sockets[1].recv_multipart() == [b'{"result":"pong"}']
        finally:
            for socket in sockets:
                socket.close()


def test_requests_beyond_the_pending_limit_wait_in_zeromq_and_are_answered():
    queries = BlockingQueries()
    with QueryService(queries, "tcp://127.0.0.1:0", workers=1) as service:
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.linger = 0
        socket.connect(service.address)
        try:
            socket.send_multipart([b"slow", b'{"method": "goals"}'])
            assert queries.entered.wait(REPLY_WAIT_MS / 1000)
            total = PENDING_PER_WORKER + 5
            for i in range(1, total):
                socket.send_multipart([str(i).encode(), b'{"method": "ping"}'])
            assert socket.poll(100) == 0

            queries.release.set()
            replies = []
            for _ in range(total):
                assert socket.poll(REPLY_WAIT_MS)
                replies.append(socket.recv_multipart()[0])
            assert replies == [b"slow"] + [str(i).encode() for i in range(1, total)]
        finally:
            socket.close()
