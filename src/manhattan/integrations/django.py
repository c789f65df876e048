"""Django integration: ``manhattan.integrations.django.ManhattanMiddleware``.

Add it to ``MIDDLEWARE`` (near the top, so that it sees the final response)
and configure it in the settings::

    MIDDLEWARE = [
        "manhattan.integrations.django.ManhattanMiddleware",
        ...
    ]
    MANHATTAN_SECRET = "a long random string"     # required; signs the visitor cookie
    MANHATTAN_LOG_PATH = "/var/lib/manhattan/log"  # a TimeRotatingLog there, or:
    # MANHATTAN_LOG = "myproject.analytics.log"    # a Log object, or its dotted path
    MANHATTAN_OPTIONS = {"host_map": {"shop.example.com": 1}, "anonymize_ip": True}

``MANHATTAN_OPTIONS`` takes the WSGI middleware's keyword options
(:class:`~manhattan.web.options.Options`), but ``count_page`` is called as
``count_page(request, response) -> bool`` and an ``exclude`` callable as
``exclude(request) -> bool`` with the ``HttpRequest`` (``exclude``
networks are checked against ``request.META["REMOTE_ADDR"]``). QA links
(:func:`manhattan.experiments.force_link`) are signed with
``MANHATTAN_SECRET``. Every request gets
``request.manhattan_visitor``; the rest (cookie, page views, pixel route
and injection, one write per request) is the WSGI middleware's behaviour,
from the same shared core. Bad or missing settings raise
``ImproperlyConfigured`` naming the setting (and, for an unknown option,
the closest known one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

# Django ships no type hints (and django-stubs is not a dependency): its names are Any here.
from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.http import (  # type: ignore[import-untyped]
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.utils.module_loading import import_string  # type: ignore[import-untyped]

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.visitor.visitor import Visitor
from manhattan.web import rules
from manhattan.web.cookies import check_secrets
from manhattan.web.options import OPTION_NAMES
from manhattan.web.pixel import PIXEL_GIF, PixelInjector, inject
from manhattan.web.scope import wsgi_text
from manhattan.web.tracker import PIXEL_CACHE_CONTROL, PIXEL_CONTENT_TYPE, Tracker, flush

if TYPE_CHECKING:
    from manhattan.log import Log

OPTIONS = OPTION_NAMES
"""The keys ``MANHATTAN_OPTIONS`` may hold: every middleware's options."""


def configured_log() -> Log:
    """The log the settings name: ``MANHATTAN_LOG`` or ``MANHATTAN_LOG_PATH``, not both."""
    log = getattr(settings, "MANHATTAN_LOG", None)
    path = getattr(settings, "MANHATTAN_LOG_PATH", None)
    if log is not None and path is not None:
        raise ImproperlyConfigured("set MANHATTAN_LOG or MANHATTAN_LOG_PATH, not both")
    if path is not None:
        try:
            return TimeRotatingLog(path)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"MANHATTAN_LOG_PATH: {exc}") from None
    if log is None:
        raise ImproperlyConfigured(
            "set MANHATTAN_LOG_PATH (a log file path) or MANHATTAN_LOG (a Log or its dotted path)"
        )
    if isinstance(log, str):
        try:
            log = import_string(log)
        except ImportError as exc:
            raise ImproperlyConfigured(f"MANHATTAN_LOG: cannot import {log!r}: {exc}") from None
    if not callable(getattr(log, "write", None)):
        raise ImproperlyConfigured(
            f"MANHATTAN_LOG must be a log with a write(records) method, not {log!r}"
        )
    return log  # type: ignore[no-any-return]


def request_environ(request: HttpRequest) -> dict[str, Any]:
    """The WSGI environ of ``request``, as the shared core reads it.

    Django replaces ``PATH_INFO`` and ``SCRIPT_NAME`` in ``META`` with
    decoded text (and its ASGI requests have no ``wsgi.url_scheme``): a copy
    gets them back as a WSGI server gives them, and the scheme Django sees
    (``request.scheme``, which honours ``SECURE_PROXY_SSL_HEADER``).
    """
    environ = dict(request.META)
    environ["wsgi.url_scheme"] = request.scheme
    environ["SCRIPT_NAME"] = wsgi_text(environ.get("SCRIPT_NAME") or "")
    environ["PATH_INFO"] = wsgi_text(request.path_info)
    return environ


class ManhattanMiddleware(Tracker):
    """Django middleware giving every request a tracked ``request.manhattan_visitor``."""

    COUNT_PAGE_SIGNATURE = "(request, response) -> bool"
    EXCLUDE_SIGNATURE = "(request: HttpRequest) -> bool"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        secret = getattr(settings, "MANHATTAN_SECRET", None)
        if secret is None:
            raise ImproperlyConfigured(
                "MANHATTAN_SECRET must be set to a non-empty str (or a list of them)"
            )
        try:
            check_secrets(secret)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"MANHATTAN_SECRET: {exc}") from None
        log = configured_log()
        options = getattr(settings, "MANHATTAN_OPTIONS", None) or {}
        if not isinstance(options, Mapping):
            raise ImproperlyConfigured(
                f"MANHATTAN_OPTIONS must be a dict of options, not {type(options).__name__}"
            )
        try:
            super().__init__(log, secret, options)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"MANHATTAN_OPTIONS: {exc}") from None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        """Serve one request."""
        environ = request_environ(request)
        exclude = self.exclude
        excluded = exclude is not None and bool(exclude(request))
        visitor, fresh, tracked, set_cookie, qa_cookie = self.begin(environ, excluded)
        request.manhattan_visitor = visitor
        if request.path_info == self.pixel_path:
            self.record_pixel(visitor, fresh, tracked)
            flush(visitor)
            pixel = HttpResponse(PIXEL_GIF, content_type=PIXEL_CONTENT_TYPE)
            pixel["Cache-Control"] = PIXEL_CACHE_CONTROL
            self._set_cookies(pixel, visitor if set_cookie else None, qa_cookie)
            return pixel
        began = visitor.timestamp()
        try:
            response = self.get_response(request)
        except BaseException:
            flush(visitor)
            raise
        tag = None
        if tracked:
            method = request.method or "GET"
            status = response.status_code
            media = rules.media_type(response.get("Content-Type"))
            rule = self.count_page
            if (
                rules.is_page_view(environ, method, status, media)
                if rule is None
                else rule(request, response)
            ):
                visitor.record_first(self.page_record(environ, visitor, began))
            if rules.takes_pixel(
                method,
                status,
                media,
                response.get("Content-Encoding"),
                response.get("Content-Range"),
            ):
                tag = self.tag_for(environ["SCRIPT_NAME"])
        self._set_cookies(response, visitor if set_cookie else None, qa_cookie)
        if isinstance(response, StreamingHttpResponse):
            # Written when the body has been sent (or the response closed).
            self._stream(response, visitor, tag)
            return response
        if tag is not None and isinstance(response, HttpResponse):
            response.content = inject(response.content, tag)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        flush(visitor)
        return response

    def _set_cookies(
        self, response: HttpResponseBase, visitor: Visitor | None, qa_cookie: str | None
    ) -> None:
        """Set the cookie of ``visitor`` (if any) and the QA cookie (if any)."""
        if visitor is not None:
            response.set_cookie(
                self.cookie_name,
                self.signer.sign(visitor.id),
                httponly=True,
                **self.cookie_options,
            )
        if qa_cookie is not None:
            response.set_cookie(
                self.qa_cookie_name, qa_cookie, httponly=True, **self.qa_cookie_options
            )

    def _stream(
        self, response: StreamingHttpResponse, visitor: Visitor, tag: bytes | None
    ) -> None:
        injector = None
        if tag is not None:
            injector = PixelInjector(tag)
            if response.has_header("Content-Length"):
                del response["Content-Length"]
        content = response.streaming_content
        if response.is_async:
            body: Any = _AsyncBody(_stream_async(content, injector, visitor), visitor)
        else:
            body = _SyncBody(_stream_sync(content, injector, visitor), visitor)
        # Django calls close() on it when the response is closed: the records
        # are written then even if the body was never read (a HEAD request,
        # a client gone before the first chunk).
        response.streaming_content = body


class _SyncBody:
    """A streamed body that writes the visitor's records when it ends or
    is closed, whichever comes first."""

    def __init__(self, chunks: Generator[bytes, None, None], visitor: Visitor) -> None:
        self._chunks = chunks
        self._visitor = visitor

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Close the body, then write the records (once: the buffer empties)."""
        try:
            self._chunks.close()
        finally:
            flush(self._visitor)


class _AsyncBody:
    """The same for an async body (its generator's own ``finally`` writes
    the records when it ends; a body never read is written at close)."""

    def __init__(self, chunks: AsyncIterator[bytes], visitor: Visitor) -> None:
        self._chunks = chunks
        self._visitor = visitor

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Write the records not written yet."""
        flush(self._visitor)


def _stream_sync(
    chunks: Iterator[bytes], injector: PixelInjector | None, visitor: Visitor
) -> Generator[bytes, None, None]:
    try:
        for chunk in chunks:
            yield chunk if injector is None else injector.feed(chunk)
        if injector is not None:
            yield injector.finish()
    finally:
        flush(visitor)


async def _stream_async(
    chunks: AsyncIterator[bytes], injector: PixelInjector | None, visitor: Visitor
) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk if injector is None else injector.feed(chunk)
        if injector is not None:
            yield injector.finish()
    finally:
        flush(visitor)
