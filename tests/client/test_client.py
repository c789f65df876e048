"""Client: against a real QueryService, and against fake servers that misbehave."""

import contextlib
import json
import math
import re
import threading
import time

import pytest
import zmq

from manhattan.backend.model import Queries, QueryError
from manhattan.client import Client, ServerError, ServerQueryError
from manhattan.exceptions import (
    CommitRefusedError,
    ManhattanError,
    StoreError,
    TransientStoreError,
)
from manhattan.server.service import QueryService
from tests.test_keys import make_keys

SHORT_WAIT = 200  # ms, for calls meant to time out
LONG_WAIT = 5000  # ms, for calls meant to be answered: only elapses when a test fails


class DictQueries:
    """The Queries API over a dict of counts; other answers are constants."""

    def __init__(self, counts=None):
        self.counts = {"signup": 12, "g0": 0} if counts is None else counts

    def count(self, goal=None, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        if rollup_key != "all":
            raise QueryError(f"unknown rollup {rollup_key!r}")
        if variant is not None:
            return {("Button", "red"): 40}.get(tuple(variant), 0)
        return self.counts.get(goal, 0) + (100 if site_id == 1 else 0)

    def goal_value(self, goal, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        return {"revenue": 99.5, "rate": math.nan, "visits": 7}.get(goal, 0.0)

    def all_tests(self):
        return [("Button", 100.0, 300.0), ("Old", 10.0, 50.0)]

    def results(self, test_name, goals, site_id=None):
        return {"red": [float(len(goal)) for goal in goals], "blue": [math.inf] * len(goals)}

    def goals(self):
        return [{"name": "revenue", "value_type": "SUM"}]

    def tests(self):
        return [{"name": "Button", "populations": ["red", "blue"]}]

    def filtered(self):
        return {"awaiting pixel": 3, "crawler": 1}

    def live(self, minutes=30, site_id=None):
        return minutes + (100 if site_id == 1 else 0)

    def funnels(self):
        return [{"name": "Checkout", "steps": ["Cart", "Paid"], "within": None}]

    def funnel(self, name, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        paid = 1 if variant is None else 0
        return [("Cart", 3 if site_id is None else 2), ("Paid", paid)]


@pytest.fixture
def service():
    with QueryService(DictQueries(), "tcp://127.0.0.1:0") as service:
        yield service


@pytest.fixture
def client(service):
    with Client(service.address, wait=LONG_WAIT) as client:
        yield client


def free_address():
    """A loopback address nothing listens on (just freed by the OS)."""
    # A context of its own: its end guarantees the port is closed.
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.bind("tcp://127.0.0.1:0")
    address = socket.getsockopt_string(zmq.LAST_ENDPOINT)
    socket.close(linger=0)
    context.term()
    return address


@contextlib.contextmanager
def fake_server(respond):
    """A raw ROUTER whose replies to each request are ``respond(tag, body)``:
    a list of messages (lists of frames, without the peer identity)."""
    socket = zmq.Context.instance().socket(zmq.ROUTER)
    socket.linger = 0
    socket.bind("tcp://127.0.0.1:0")
    address = socket.getsockopt_string(zmq.LAST_ENDPOINT)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if socket.poll(10):
                identity, tag, body = socket.recv_multipart()
                for message in respond(tag, body):
                    socket.send_multipart([identity, *message])

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield address
    finally:
        stop.set()
        thread.join()
        socket.close()


@contextlib.contextmanager
def client_of(respond):
    """A client of a fake server."""
    with fake_server(respond) as address, Client(address, wait=LONG_WAIT) as client:
        yield client


def replying(result_json):
    """A fake server's ``respond`` answering every request with that reply body."""
    return lambda tag, body: [[tag, result_json]]


def test_client_is_a_queries_object(client):
    assert isinstance(client, Queries)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(lambda c: c.count(), 0, id="count-everything"),
        pytest.param(lambda c: c.count("signup"), 12, id="count-goal"),
        pytest.param(lambda c: c.count("signup", site_id=1), 112, id="count-site"),
        pytest.param(lambda c: c.count(variant=("Button", "red")), 40, id="impressions"),
        pytest.param(lambda c: c.goal_value("revenue"), 99.5, id="goal-value"),
        pytest.param(lambda c: c.goal_value("visits"), 7.0, id="goal-value-integer"),
        pytest.param(
            lambda c: c.all_tests(),
            [("Button", 100.0, 300.0), ("Old", 10.0, 50.0)],
            id="all-tests",
        ),
        pytest.param(
            lambda c: c.results("Button", ("ab", "abcd")),
            {"red": [2.0, 4.0], "blue": [math.nan, math.nan]},
            id="results-inf-comes-back-nan",
        ),
        pytest.param(lambda c: c.goals(), [{"name": "revenue", "value_type": "SUM"}], id="goals"),
        pytest.param(
            lambda c: c.tests(), [{"name": "Button", "populations": ["red", "blue"]}], id="tests"
        ),
        pytest.param(lambda c: c.ping(), "pong", id="ping"),
        pytest.param(lambda c: c.filtered(), {"awaiting pixel": 3, "crawler": 1}, id="filtered"),
        pytest.param(lambda c: c.call("count", "signup", site_id=1), 112, id="generic-call"),
        pytest.param(lambda c: c.live(), 30, id="live-default"),
        pytest.param(lambda c: c.live(5, site_id=1), 105, id="live-site"),
        pytest.param(
            lambda c: c.funnels(),
            [{"name": "Checkout", "steps": ["Cart", "Paid"], "within": None}],
            id="funnels",
        ),
        pytest.param(lambda c: c.funnel("Checkout"), [("Cart", 3), ("Paid", 1)], id="funnel"),
        pytest.param(
            lambda c: c.funnel("Checkout", ("Button", "red"), "day", "2026-12-01", 1),
            [("Cart", 2), ("Paid", 0)],
            id="funnel-slice",
        ),
    ],
)
def test_calls_map_to_queries(client, call, expected):
    result = call(client)

    # NaN != NaN: compare its JSON spelling, which keeps NaN distinct from numbers.
    assert json.dumps(result) == json.dumps(expected)
    assert type(result) is type(expected)


def test_goal_value_null_comes_back_nan(client):
    value = client.goal_value("rate")

    assert isinstance(value, float)
    assert math.isnan(value)


def test_all_tests_rows_are_tuples(client):
    assert all(type(row) is tuple for row in client.all_tests())


@pytest.mark.parametrize(
    ("call", "error_type", "message"),
    [
        pytest.param(
            lambda c: c.count("signup", rollup_key="bogus"),
            "QueryError",
            "unknown rollup 'bogus'",
            id="query-error",
        ),
        pytest.param(
            lambda c: c.call("flush"),
            "MethodNotAllowed",
            "method 'flush' is not allowed; "
            "allowed: all_tests, analyze, breakdown, count, entry_pages, filtered, funnel, "
            "funnels, goal_value, goals, live, page_totals, pages, results, rollups, sites, tests",
            id="refused",
        ),
        pytest.param(
            lambda c: c.call("tests", "extra"),
            "TypeError",
            "DictQueries.tests() takes 1 positional argument but 2 were given",
            id="bad-arguments",
        ),
    ],
)
def test_error_replies_raise_server_error(client, call, error_type, message):
    with pytest.raises(ServerError) as raised:
        call(client)

    assert raised.value.type == error_type
    assert raised.value.message == message
    assert str(raised.value) == f"{error_type}: {message}"
    assert client.count("signup") == 12


def test_timeout_without_server_then_works_once_one_starts():
    address = free_address()
    client = Client(address, wait=SHORT_WAIT)
    started = time.monotonic()

    message = (
        f"no reply to count from {address} within 200 ms: the server may not be running, "
        f"or be busy (check with `manhattan-client --connect {address} ping`); a server "
        "bound beyond loopback requires its Curve key (curve_server_key, --curve-server-key)"
    )
    with pytest.raises(TimeoutError, match=re.escape(message)):
        client.count("signup")

    assert time.monotonic() - started >= SHORT_WAIT / 1000
    with QueryService(DictQueries(), address):
        client.wait = LONG_WAIT
        assert client.count("signup") == 12
    client.close()


class SlowFirstQueries(DictQueries):
    """The first count blocks until released: slower than the client waits."""

    def __init__(self):
        super().__init__({"first": 1, "second": 2})
        self.release = threading.Event()
        self.first = True

    def count(self, goal=None, *args, **kwargs):
        if self.first:
            self.first = False
            assert self.release.wait(LONG_WAIT / 1000)
        return super().count(goal, *args, **kwargs)


def test_late_reply_is_never_the_answer_to_a_later_call():
    queries = SlowFirstQueries()
    with QueryService(queries, "tcp://127.0.0.1:0") as service:
        client = Client(service.address, wait=SHORT_WAIT)
        with pytest.raises(TimeoutError):
            client.count("first")
        queries.release.set()
        client.wait = LONG_WAIT

        # The service answers requests in order, so the late reply to
        # "first" is sent before the reply to "second".
        assert client.count("second") == 2
        assert client.count("first") == 1
        client.close()


def test_replies_with_another_tag_or_shape_are_skipped():
    def respond(tag, body):
        return [
            [b"stale", b'{"result": 1}'],
            [tag, b"extra frame", b'{"result": 2}'],
            [tag],
            [tag, b'{"result": 3}'],
        ]

    with client_of(respond) as client:
        assert client.count() == 3


def test_requests_are_tagged_distinctly():
    tags = []

    def respond(tag, body):
        tags.append(tag)
        return [[tag, b'{"result": 0}']]

    with client_of(respond) as client:
        client.count()
        client.count()
        client.count()

    assert len(set(tags)) == 3


def test_request_frame_is_compact_json_with_only_given_fields():
    bodies = []

    def respond(tag, body):
        bodies.append(json.loads(body))
        return [
            [tag, b'{"result": "pong"}' if bodies[-1]["method"] == "ping" else b'{"result": {}}']
        ]

    with client_of(respond) as client:
        client.ping()
        client.call("results", "t", goals=["g"])
        client.results("t", ("a", "b"))

    assert bodies == [
        {"method": "ping"},
        {"method": "results", "args": ["t"], "kwargs": {"goals": ["g"]}},
        {"method": "results", "args": ["t", ["a", "b"], None]},
    ]


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1]", id="list"),
        pytest.param(b'"result"', id="string"),
        pytest.param(b'{"neither": 1}', id="neither"),
        pytest.param(b'{"error": "boom"}', id="error-not-object"),
        pytest.param(b'{"error": {"type": 1, "message": "m"}}', id="error-type-not-string"),
        pytest.param(b'{"error": {"type": "T"}}', id="error-without-message"),
    ],
)
def test_unreadable_reply_is_a_malformed_reply_error(reply):
    with client_of(replying(reply)) as client, pytest.raises(ServerError) as raised:
        client.call("count")

    assert raised.value.type == "MalformedReply"


def test_error_reply_from_any_server_keeps_its_type_and_message():
    reply = b'{"error": {"type": "Custom", "message": "went wrong"}}'
    with client_of(replying(reply)) as client, pytest.raises(ServerError) as raised:
        client.count()

    assert (raised.value.type, raised.value.message) == ("Custom", "went wrong")


@pytest.mark.parametrize(
    ("call", "result"),
    [
        pytest.param(lambda c: c.count(), b'"12"', id="count-string"),
        pytest.param(lambda c: c.count(), b"1.5", id="count-float"),
        pytest.param(lambda c: c.goal_value("g"), b'"1.5"', id="goal-value-string"),
        pytest.param(lambda c: c.all_tests(), b'{"a": [1, 2]}', id="all-tests-object"),
        pytest.param(lambda c: c.all_tests(), b'[["a", 1]]', id="all-tests-short-row"),
        pytest.param(lambda c: c.all_tests(), b"[[1, 2, 3]]", id="all-tests-name-number"),
        pytest.param(lambda c: c.all_tests(), b'["abc"]', id="all-tests-row-string"),
        pytest.param(lambda c: c.results("t", ["g"]), b"[1]", id="results-list"),
        pytest.param(lambda c: c.analyze("t"), b"[1]", id="analyze-list"),
        pytest.param(lambda c: c.results("t", ["g"]), b'{"a": 1}', id="results-row-number"),
        pytest.param(lambda c: c.results("t", ["g"]), b'{"a": ["x"]}', id="results-value-string"),
        pytest.param(lambda c: c.goals(), b"[1]", id="goals-row-number"),
        pytest.param(lambda c: c.tests(), b'{"a": 1}', id="tests-object"),
        pytest.param(lambda c: c.ping(), b"1", id="ping-number"),
        pytest.param(lambda c: c.filtered(), b'{"crawler": "1"}', id="filtered-string"),
        pytest.param(lambda c: c.filtered(), b"[1]", id="filtered-list"),
        pytest.param(lambda c: c.live(), b"1.5", id="live-float"),
        pytest.param(lambda c: c.funnels(), b"[1]", id="funnels-row-number"),
        pytest.param(lambda c: c.funnel("F"), b'[["a", 1.5]]', id="funnel-visitors-float"),
        pytest.param(lambda c: c.funnel("F"), b'[["a"]]', id="funnel-short-row"),
        pytest.param(lambda c: c.funnel("F"), b'{"a": 1}', id="funnel-object"),
    ],
)
def test_result_of_the_wrong_shape_is_a_malformed_reply_error(call, result):
    reply = b'{"result": ' + result + b"}"
    with client_of(replying(reply)) as client, pytest.raises(ServerError) as raised:
        call(client)

    assert raised.value.type == "MalformedReply"
    assert result.decode() in raised.value.message.replace("'", '"')


def test_many_clients_in_threads_get_their_own_answers():
    counts = {f"g{i}": i * 10 for i in range(8)}
    answers = {}

    def ask(i, address):
        with Client(address, wait=LONG_WAIT) as client:
            answers[i] = [client.count(f"g{i}") for _ in range(25)]

    with QueryService(DictQueries(counts), "tcp://127.0.0.1:0") as service:
        threads = [threading.Thread(target=ask, args=(i, service.address)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert answers == {i: [i * 10] * 25 for i in range(8)}


@pytest.mark.parametrize("wait", [pytest.param(0, id="zero"), pytest.param(-5, id="negative")])
def test_wait_must_be_positive(wait):
    with pytest.raises(ValueError, match="wait must be a positive number of milliseconds"):
        Client("tcp://127.0.0.1:5555", wait=wait)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        pytest.param("nonsense", "'nonsense' is not a ZeroMQ address", id="word"),
        pytest.param("127.0.0.1:5555", "did you mean 'tcp://127.0.0.1:5555'?", id="no-transport"),
        pytest.param("nonsense://x", "cannot connect to 'nonsense://x'", id="bad-transport"),
    ],
)
def test_bad_address_fails_at_construction(address, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Client(address)


def test_curve_keys_must_be_usable_files(tmp_path):
    keys = make_keys(tmp_path)
    with pytest.raises(ValueError, match="curve_secret_key needs curve_server_key"):
        Client(curve_secret_key=keys.client_secret)
    with pytest.raises(ValueError, match=r"curve key file .*missing\.key does not exist"):
        Client(curve_server_key=tmp_path / "missing.key")
    with pytest.raises(ValueError, match="holds no secret key"):
        Client(curve_server_key=keys.server_public, curve_secret_key=keys.client_public)


def test_unencodable_arguments_raise_before_sending(client):
    with pytest.raises(ValueError, match="JSON"):
        client.count("signup", bucket_id=math.nan)
    with pytest.raises(TypeError, match="JSON"):
        client.count("signup", bucket_id={1, 2})

    assert client.count("signup") == 12


def test_closed_client_reconnects_on_next_call(client):
    client.close()
    client.close()

    assert client.count("signup") == 12


def test_defaults_and_repr():
    client = Client()

    assert (client.connect, client.wait) == ("tcp://127.0.0.1:5555", 3000)
    assert repr(client) == "Client(connect='tcp://127.0.0.1:5555', wait=3000)"
    client.close()


@pytest.mark.parametrize(
    ("error_type", "declared", "builtin"),
    [
        pytest.param("QueryError", QueryError, ValueError, id="query"),
        pytest.param("StoreError", StoreError, RuntimeError, id="store"),
        pytest.param("TransientStoreError", TransientStoreError, RuntimeError, id="transient"),
        pytest.param("CommitRefusedError", CommitRefusedError, RuntimeError, id="refused"),
    ],
)
def test_error_reply_of_a_declared_type_raises_that_class_and_server_error(
    error_type, declared, builtin
):
    reply = json.dumps({"error": {"type": error_type, "message": "no goal named 'x'"}})
    with client_of(replying(reply.encode())) as client, pytest.raises(declared) as raised:
        client.count("x")

    assert isinstance(raised.value, ServerError)
    assert isinstance(raised.value, ManhattanError)
    assert isinstance(raised.value, builtin)
    assert (raised.value.type, raised.value.message) == (error_type, "no goal named 'x'")
    assert str(raised.value) == f"{error_type}: no goal named 'x'"


def test_query_error_of_a_real_server_is_caught_as_query_error(client):
    with pytest.raises(QueryError, match="unknown rollup 'bogus'") as raised:
        client.count(rollup_key="bogus")

    assert isinstance(raised.value, ServerQueryError)
    assert raised.value.type == "QueryError"


def test_error_reply_of_another_type_is_only_a_server_error():
    reply = b'{"error": {"type": "MethodNotAllowed", "message": "no"}}'
    with client_of(replying(reply)) as client, pytest.raises(ServerError) as raised:
        client.count()

    assert type(raised.value) is ServerError
    assert not isinstance(raised.value, QueryError)
