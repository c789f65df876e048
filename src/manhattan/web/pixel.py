"""The tracking pixel: the image, its tag, and injecting the tag into HTML.

The tag goes right before the last ``</body>`` of a page that is markup: a
``</body>`` inside ``<script>``, ``<style>``, ``<textarea>`` (and the other
raw text elements, see :data:`RAW_TEXT`), inside ``<template>`` or inside an
HTML comment is text, not the end of the body, and is skipped. A body with no
such ``</body>`` (an HTML fragment for a script to insert, say) gets no
pixel: appending it would add an image to the fragment.

The scan is a small tokenizer of just the states that decide this (it does
not follow the escapes inside a ``<script>``'s own ``<!--``); Python's
``html.parser`` works on decoded text, has no byte offsets to insert at and
knows only ``<script>`` and ``<style>`` as raw text, and a full HTML5
parser costs far more per page than the few regex searches done here.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import html
import re

# A 1x1 GIF whose only colour is transparent (GIF89a, graphic control
# extension with the transparency flag set).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

MAX_HELD = 64 * 1024
"""The most bytes of a streamed body held back after a candidate ``</body>``.

A streamed body is sent on as it comes, except what follows the latest
eligible ``</body>`` (a later one may still come). Once more than this
follows it, the pixel goes before that one and the rest streams on.
"""

RAW_TEXT = (
    b"script",
    b"style",
    b"textarea",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"noscript",
)
"""Elements whose content is text up to their own end tag (``noscript`` as
in a browser that runs scripts). ``<title>`` is one too, but is left out:
every page has one, no page has a ``</body>`` in it, and following it would
cost every page a scan step."""

# The scan reads a lowercased copy of the body with case-sensitive
# patterns: several times faster than IGNORECASE ones, and offsets match.
# Each alternation is found through a hint: a "<" and three character sets
# that every alternative passes, which the regex engine checks at each "<"
# far faster than the alternation itself (a few times, on a page of
# thousands of tags); the alternation then only runs where the hint matched.
_DELIMITED = rb"(?=[\t\n\f\r />])"
_TOKEN = re.compile(
    rb"<(?:(!--)|/(body|template)"
    + _DELIMITED
    + rb"|(template|"
    + b"|".join(RAW_TEXT)
    + rb")"
    + _DELIMITED
    + rb")"
)
_RAW_END = {name: re.compile(b"</" + name + _DELIMITED) for name in RAW_TEXT}
# Whatever may hide a </body>: a page with none of these takes the fast path.
_HIDERS = re.compile(rb"<(?:!--|template|" + b"|".join(RAW_TEXT) + rb")")
_BODY_END = b"</body"
_DELIMITERS = frozenset(b"\t\n\f\r />")
_COMMENT_END = re.compile(rb"--!?>")
_TAG_STOP = re.compile(rb"[>=]")
_VALUE_START = re.compile(rb"[\t\n\f\r ]*+([\"'])?")
# Every prefix of a token the scan acts on: a body's last bytes that are one
# may become the token with the next chunk, so they wait for it.
_TOKEN_PREFIXES = frozenset(
    token[:end]
    for token in (b"<!--", b"</body", b"</template", b"<template", *(b"<" + n for n in RAW_TEXT))
    for end in range(1, len(token) + 1)
)
_LONGEST_TOKEN = max(map(len, _TOKEN_PREFIXES))


def _hint(tokens: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """A pattern every one of ``tokens`` (starting "<", 4 bytes or more) matches."""
    sets = (re.escape(bytes(sorted({token[i] for token in tokens}))) for i in (1, 2, 3))
    return re.compile(b"<" + b"".join(b"[" + chars + b"]" for chars in sets))


_OPENERS = (b"<!--", b"<template", *(b"<" + name for name in RAW_TEXT))
_TOKEN_HINT = _hint((*_OPENERS, b"</body", b"</template"))
_HIDERS_HINT = _hint(_OPENERS)


def _search(
    hint: re.Pattern[bytes], exact: re.Pattern[bytes], data: bytes, at: int
) -> re.Match[bytes] | None:
    """The first match of ``exact`` in ``data`` from ``at``, found through ``hint``."""
    found = hint.search(data, at)
    while found is not None:
        match = exact.match(data, found.start())
        if match is not None:
            return match
        found = hint.search(data, found.start() + 1)
    return None


_DATA, _COMMENT, _RAW = 0, 1, 2


def pixel_tag(src: str) -> bytes:
    """The ``<img>`` that makes a browser request the pixel at ``src``."""
    return (
        f'<img src="{html.escape(src)}" alt="" width="1" height="1" aria-hidden="true" '
        'style="position:absolute;border:0">'
    ).encode("ascii", "xmlcharrefreplace")


def inject(body: bytes, tag: bytes) -> bytes:
    """``body`` with ``tag`` before its last eligible ``</body>``; unchanged if none."""
    low = body.lower()
    # The hint alone rules most pages out without a call.
    if _HIDERS_HINT.search(low) is not None and _search(_HIDERS_HINT, _HIDERS, low, 0):
        injector = PixelInjector(tag, max_held=len(body))
        return injector.feed(body) + injector.finish()
    # Nothing can hide a </body>: the last one is the one (the scan would
    # give the same answer, slower).
    at = low.rfind(_BODY_END)
    while at >= 0 and (at + 6 == len(low) or low[at + 6] not in _DELIMITERS):
        at = low.rfind(_BODY_END, 0, at)
    return body if at < 0 else body[:at] + tag + body[at:]


def _start_tag_end(data: bytes, at: int) -> int:
    """The offset after the ``>`` closing the start tag whose attributes begin
    at ``at``, or -1 if ``data`` ends first (a quoted ``>`` does not close it)."""
    while True:
        stop = _TAG_STOP.search(data, at)
        if stop is None:
            return -1
        at = stop.end()
        if data[stop.start()] == 0x3E:  # ">"
            return at
        value = _VALUE_START.match(data, at)
        assert value is not None  # the pattern matches the empty string
        quote = value.group(1)
        if quote is not None:
            close = data.find(quote, value.end())
            if close < 0:
                return -1
            at = close + 1
        elif value.end() == len(data):
            return -1  # the value may still start with a quote
        else:
            at = value.end()


class PixelInjector:
    """Inserts ``tag`` before the last eligible ``</body>`` of a body given in chunks.

    Each :meth:`feed` returns what can be sent now: bytes from the latest
    eligible ``</body>`` on are held until a later one or the end (at most
    ``max_held`` of them), and a chunk's last few bytes only while they may
    begin a tag the scan needs whole. :meth:`finish` returns what is still
    held, with the tag in place.
    """

    __slots__ = (
        "_body_end",
        "_depth",
        "_held",
        "_low",
        "_mode",
        "_raw_end",
        "_raw_keep",
        "_scan_at",
        "done",
        "max_held",
        "tag",
    )

    def __init__(self, tag: bytes, max_held: int = MAX_HELD) -> None:
        self.tag = tag
        self.max_held = max_held
        self.done = False
        self._held = b""
        self._low = b""  # _held, lowercased
        # Where the scan goes on in _held, and where in it the latest eligible
        # </body> starts (-1: none since what was sent).
        self._scan_at = 0
        self._body_end = -1
        self._mode = _DATA
        self._raw_end: re.Pattern[bytes] | None = None
        self._raw_keep = 0  # the length of "</name" for the raw text element
        self._depth = 0  # open <template> elements

    def feed(self, chunk: bytes) -> bytes:
        """Send-ready bytes for ``chunk``."""
        if self.done:
            return chunk
        if self._held:
            data, low = self._held + chunk, self._low + chunk.lower()
        else:
            data, low = chunk, chunk.lower()
        self._scan(low)
        body_end = self._body_end
        ready = self._scan_at if body_end < 0 else body_end
        if len(data) - ready > self.max_held:
            # Too much after the candidate (or a start tag larger than any
            # page's): stop holding, with the pixel in place if there is one.
            self.done = True
            self._held = self._low = b""
            self._body_end = -1
            return data if body_end < 0 else data[:body_end] + self.tag + data[body_end:]
        self._held, self._low = data[ready:], low[ready:]
        self._scan_at -= ready
        if body_end >= 0:
            self._body_end = 0
        return data[:ready]

    def finish(self) -> bytes:
        """The bytes still held back, once the body has ended."""
        held, self._held, self._low = self._held, b"", b""
        self.done = True
        at = self._body_end
        self._body_end = -1
        return held if at < 0 else held[:at] + self.tag + held[at:]

    def _scan(self, data: bytes) -> None:
        """Scan ``data`` (lowercase) from ``_scan_at`` as far as it can be read whole."""
        at = self._scan_at
        while True:
            if self._mode == _COMMENT:
                end = _COMMENT_END.search(data, at)
                if end is None:
                    self._scan_at = max(at, len(data) - 3)  # a split "--!>"
                    return
                at, self._mode = end.end(), _DATA
            elif self._mode == _RAW:
                assert self._raw_end is not None
                end = self._raw_end.search(data, at)
                if end is None:
                    # Keep what may be the start of a split end tag.
                    self._scan_at = max(at, len(data) - self._raw_keep)
                    return
                at, self._mode = end.end(), _DATA
            else:
                token = _search(_TOKEN_HINT, _TOKEN, data, at)
                if token is None:
                    lt = data.rfind(b"<", max(at, len(data) - _LONGEST_TOKEN))
                    held = lt >= 0 and data[lt:] in _TOKEN_PREFIXES
                    self._scan_at = lt if held else len(data)
                    return
                start, at = token.span()
                comment, end_name, start_name = token.groups()
                if comment:
                    rest = data[at : at + 2]
                    if len(rest) < 2 and rest != b">":
                        # "<!-->" and "<!--->" are whole comments: wait to see.
                        self._scan_at = start
                        return
                    if rest[:1] == b">":
                        at += 1
                    elif rest == b"->":
                        at += 2
                    else:
                        self._mode = _COMMENT
                elif end_name:
                    if end_name == b"template":
                        self._depth = max(self._depth - 1, 0)
                    elif not self._depth:
                        self._body_end = start
                else:
                    close = _start_tag_end(data, at)
                    if close < 0:
                        self._scan_at = start
                        return
                    at = close
                    if start_name == b"template":
                        self._depth += 1
                    else:
                        self._mode, self._raw_end = _RAW, _RAW_END[start_name]
                        self._raw_keep = len(start_name) + 2
