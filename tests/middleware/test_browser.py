"""The WSGI middleware serving a real headless Chromium (the ``browser``
fixture of tests/conftest.py): where the pixel lands in the DOM, and that
the browser loads it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from manhattan.log.memory import MemoryLog
from manhattan.middleware import ManhattanMiddleware

# A script holding the text "</body>" before the real end of the body: a
# pixel put before the first "</body>" would land inside the script's string.
PAGE = b"""<!doctype html>
<html><head><title>shop</title></head>
<body>
<p id="greeting">Hello</p>
<script>var closing = "</body>"; document.title = "ran: " + closing.length;</script>
<!-- not here either: </body> -->
</body>
</html>
"""


def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] != "/":  # the browser's /favicon.ico
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [PAGE]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@pytest.fixture
def shop() -> Iterator[tuple[str, MemoryLog]]:
    """The page behind the middleware, served on 127.0.0.1 from a thread."""
    log = MemoryLog()
    server: WSGIServer = make_server(
        "127.0.0.1",
        0,
        ManhattanMiddleware(page, log, "browser-secret"),
        handler_class=QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_pixel_is_a_loaded_child_of_body_beside_a_script_holding_body_end(
    browser: Any, shop: tuple[str, MemoryLog]
) -> None:
    from selenium.webdriver.common.by import By

    url, log = shop
    browser.get(url + "/")
    [img] = browser.find_elements(By.CSS_SELECTOR, 'img[src="/vpixel.gif"]')
    assert browser.execute_script("return arguments[0].parentElement.tagName", img) == "BODY"
    # The script ran with its string whole.
    assert browser.title == "ran: 7"
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    assert browser.execute_script(loaded, img) == 1
    # The pixel request reached the middleware with the page's cookie.
    deadline = time.monotonic() + 5
    while "pixel" not in [record[1] for record in log.records] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [record[1] for record in log.records] == ["page", "pixel"]
    [visitor_id] = {record[3] for record in log.records}
    assert browser.get_cookie("manhattan")["value"].startswith(visitor_id + ".")
