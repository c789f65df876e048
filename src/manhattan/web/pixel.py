"""The tracking pixel: the image, its tag, and injecting the tag into HTML."""

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

_BODY_END = re.compile(rb"</body[\s>]", re.IGNORECASE)
_BODY_START = b"</body"
# How much of a chunk's end may be the start of a split "</body>" tag.
_KEEP = len(_BODY_START)


def pixel_tag(src: str) -> bytes:
    """The ``<img>`` that makes a browser request the pixel at ``src``."""
    return (
        f'<img src="{html.escape(src)}" alt="" width="1" height="1" aria-hidden="true" '
        'style="position:absolute;border:0">'
    ).encode("ascii", "xmlcharrefreplace")


def inject(body: bytes, tag: bytes) -> bytes:
    """``body`` with ``tag`` before its first ``</body>``; unchanged if none."""
    match = _BODY_END.search(body)
    if match is None:
        return body
    at = match.start()
    return body[:at] + tag + body[at:]


class PixelInjector:
    """Inserts ``tag`` before the first ``</body>`` of a body given in chunks.

    Each :meth:`feed` returns what can be sent now: a chunk's last few bytes
    are held back only until the next chunk shows whether they begin the tag.
    :meth:`finish` returns what is still held.
    """

    __slots__ = ("_held", "done", "tag")

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.done = False
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Send-ready bytes for ``chunk``."""
        if self.done:
            return chunk
        data = self._held + chunk if self._held else chunk
        match = _BODY_END.search(data)
        if match is not None:
            self.done = True
            self._held = b""
            at = match.start()
            return data[:at] + self.tag + data[at:]
        split = len(data) - _KEEP if len(data) > _KEEP else 0
        lt = data.rfind(b"<", split)
        # Hold back only what may begin the tag: a chunk ending in "</p>" must
        # not wait for the next chunk of a slowly streamed page.
        if lt < 0 or not _BODY_START.startswith(data[lt:].lower()):
            self._held = b""
            return data
        self._held = data[lt:]
        return data[:lt]

    def finish(self) -> bytes:
        """The bytes still held back, once the body has ended."""
        held, self._held = self._held, b""
        self.done = True
        return held
