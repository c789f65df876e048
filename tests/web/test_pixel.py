"""The tracking pixel: the GIF, its tag, and injecting the tag into (streamed) HTML."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from manhattan.web.pixel import MAX_HELD, PIXEL_GIF, RAW_TEXT, PixelInjector, inject, pixel_tag

TAG = b"<img pixel>"


def sub_blocks(data: bytes, at: int) -> tuple[bytes, int]:
    """The concatenated GIF data sub-blocks starting at ``at``, and the offset after them."""
    out = b""
    while data[at] != 0:
        size = data[at]
        out += data[at + 1 : at + 1 + size]
        at += 1 + size
    return out, at + 1


def test_pixel_gif_is_a_transparent_1x1_gif() -> None:
    gif = PIXEL_GIF
    assert gif[:6] == b"GIF89a"
    # Logical screen descriptor: width, height (little-endian), packed fields.
    assert int.from_bytes(gif[6:8], "little") == 1
    assert int.from_bytes(gif[8:10], "little") == 1
    packed = gif[10]
    at = 13
    if packed & 0x80:  # a global colour table of 2 ** (n + 1) RGB entries
        at += 3 * 2 ** ((packed & 0x07) + 1)
    transparent_index = None
    image = None
    while gif[at] != 0x3B:
        if gif[at] == 0x21:  # extension
            label = gif[at + 1]
            body, at = sub_blocks(gif, at + 2)
            if label == 0xF9:  # graphic control extension
                assert body[0] & 0x01, "transparency flag"
                transparent_index = body[3]
        else:
            assert gif[at] == 0x2C  # image descriptor
            left, top, width, height = (
                int.from_bytes(gif[at + 1 + 2 * i : at + 3 + 2 * i], "little") for i in range(4)
            )
            assert (left, top, width, height) == (0, 0, 1, 1)
            assert gif[at + 9] & 0x80 == 0  # no local colour table
            code_size = gif[at + 10]
            image, at = sub_blocks(gif, at + 11)
    assert at == len(gif) - 1, "the trailer ';' ends the file"
    assert gif.endswith(b";")
    # The LZW stream, read by hand: (code_size + 1)-bit codes, least significant bit first.
    assert image is not None
    bits = int.from_bytes(image, "little")
    width_bits = code_size + 1
    clear, end = 1 << code_size, (1 << code_size) + 1
    codes = [(bits >> (width_bits * i)) & ((1 << width_bits) - 1) for i in range(3)]
    assert codes == [clear, transparent_index, end]


@pytest.mark.parametrize(
    ("src", "expected_src"),
    [
        pytest.param("/vpixel.gif", b"/vpixel.gif", id="plain"),
        pytest.param(
            '/p.gif?a=1&b="2"<x>', b"/p.gif?a=1&amp;b=&quot;2&quot;&lt;x&gt;", id="escaped"
        ),
        pytest.param("/p'.gif", b"/p&#x27;.gif", id="single-quote"),
        pytest.param("/caf\u00e9.gif", b"/caf&#233;.gif", id="non-ascii"),
    ],
)
def test_pixel_tag(src: str, expected_src: bytes) -> None:
    tag = pixel_tag(src)
    assert tag.startswith(b'<img src="' + expected_src + b'" ')
    assert tag.endswith(b">")
    assert b'width="1"' in tag
    assert b'height="1"' in tag
    assert b'alt=""' in tag
    tag.decode("ascii")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"<html><body>x</body></html>", b"<html><body>x" + TAG + b"</body></html>"),
        pytest.param(b"x</BODY >y", b"x" + TAG + b"</BODY >y", id="upper-with-space"),
        pytest.param(b"x</Body\n>", b"x" + TAG + b"</Body\n>", id="newline"),
        pytest.param(b"</body></body>", b"</body>" + TAG + b"</body>", id="last-only"),
        pytest.param(b"<p>no end</p>", b"<p>no end</p>", id="no-body-end"),
        pytest.param(b"x</bodyx>", b"x</bodyx>", id="other-tag"),
        pytest.param(b"x</body", b"x</body", id="unfinished-tag"),
        pytest.param(b"", b"", id="empty"),
    ],
)
def test_inject(body: bytes, expected: bytes) -> None:
    assert inject(body, TAG) == expected


def compositions(body: bytes) -> Iterator[list[bytes]]:
    """Every way of cutting ``body`` into non-empty chunks, in order."""
    n = len(body)
    for mask in range(1 << max(n - 1, 0)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        yield [body[a:b] for a, b in itertools.pairwise(cuts)]


def two_cuts(body: bytes) -> Iterator[list[bytes]]:
    """Every way of cutting ``body`` at two points (chunks may be empty)."""
    n = len(body)
    for a in range(n + 1):
        for b in range(a, n + 1):
            yield [body[:a], body[a:b], body[b:]]


def injected(chunks: list[bytes]) -> bytes:
    injector = PixelInjector(TAG)
    out = b"".join(injector.feed(chunk) for chunk in chunks) + injector.finish()
    assert injector.done
    return out


SHORT_BODIES = [
    pytest.param(b"</body>", id="tag-only"),
    pytest.param(b"a</BODY >b", id="upper-space"),
    pytest.param(b"x</body\t>", id="tab"),
    pytest.param(b"<</body>", id="lt-before"),
    pytest.param(b"</bod</body>", id="false-start"),
    pytest.param(b"</p></body>", id="other-end-tag"),
    pytest.param(b"</body", id="unfinished"),
    pytest.param(b"</p><b>", id="no-end"),
    pytest.param(b"x</bodyx>", id="longer-tag-name"),
    pytest.param(b"<", id="lone-lt"),
    pytest.param(b"", id="empty"),
]


@pytest.mark.parametrize("body", SHORT_BODIES)
def test_injector_matches_inject_for_every_chunking(body: bytes) -> None:
    expected = inject(body, TAG)
    for chunks in compositions(body):
        assert injected(chunks) == expected, chunks


LONG_BODIES = [
    pytest.param(
        b"<html><body><p>Hello</p><a href='/'>home</a></BODY ><p>after</p></body></html>",
        id="page",
    ),
    pytest.param(b"<b>x</b></bodyx></body>" * 2, id="decoy-then-two-ends"),
    pytest.param(b"<p>" + b"<" * 20 + b"</p>", id="no-end-many-lt"),
]


@pytest.mark.parametrize("body", LONG_BODIES + SHORT_BODIES)
def test_injector_matches_inject_for_every_two_cuts(body: bytes) -> None:
    expected = inject(body, TAG)
    for chunks in two_cuts(body):
        assert injected(chunks) == expected, chunks


def test_injector_one_byte_at_a_time() -> None:
    body = b"<html><body>" + b"<p>x</p>" * 10 + b"</body></html>"
    assert injected([body[i : i + 1] for i in range(len(body))]) == inject(body, TAG)
    assert inject(body, TAG).count(TAG) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<p>plain</p>", id="html-fragment"),
        pytest.param(b'{"json": "</div>"}', id="json"),
        pytest.param(b"\x00\x01<\xff", id="binary"),
    ],
)
def test_body_without_end_tag_comes_through_unchanged(body: bytes) -> None:
    for chunks in two_cuts(body):
        assert injected(chunks) == body


@pytest.mark.parametrize(
    ("chunk", "sent_now"),
    [
        pytest.param(b"<p>row</p>", b"<p>row</p>", id="end-tag-not-held"),
        pytest.param(b"<p>row</p><", b"<p>row</p>", id="lt-held"),
        pytest.param(b"<p>row</p></bo", b"<p>row</p>", id="start-of-tag-held"),
        pytest.param(b"<p>row</p></BODY", b"<p>row</p>", id="whole-name-held"),
        pytest.param(b"row</b", b"row", id="could-still-be-body"),
        pytest.param(b"row</bx", b"row</bx", id="cannot-be-body"),
        pytest.param(b"<br>\n", b"<br>\n", id="short-other-tag"),
    ],
)
def test_injector_holds_back_only_a_possible_start_of_the_tag(
    chunk: bytes, sent_now: bytes
) -> None:
    # A slowly streamed page must not wait for the next chunk without need.
    injector = PixelInjector(TAG)
    assert injector.feed(chunk) == sent_now
    assert not injector.done
    assert injector.finish() == chunk[len(sent_now) :]


def test_feed_after_finish_passes_through_everything() -> None:
    injector = PixelInjector(TAG)
    assert injector.feed(b"a</body>b") == b"a"
    assert not injector.done
    assert injector.finish() == TAG + b"</body>b"
    assert injector.done
    assert injector.feed(b"</body>") == b"</body>"
    assert injector.feed(b"<") == b"<"
    assert injector.finish() == b""


def test_feed_after_finish_passes_through() -> None:
    injector = PixelInjector(TAG)
    assert injector.feed(b"x</bo") == b"x"
    assert injector.finish() == b"</bo"
    assert injector.feed(b"dy>") == b"dy>"


# --- which </body> gets the pixel ---------------------------------------------------

ELIGIBLE = [
    pytest.param(
        b'<body><script>var s = "</body>";</script></body>',
        b'<body><script>var s = "</body>";</script>' + TAG + b"</body>",
        id="script-string",
    ),
    pytest.param(
        b"<body><p>x</p></body><script>document.write('</body>')</script>",
        b"<body><p>x</p>" + TAG + b"</body><script>document.write('</body>')</script>",
        id="script-after-the-real-end",
    ),
    pytest.param(
        b'<body><SCRIPT type="module">x="</body>"</SCRIPT ></body>',
        b'<body><SCRIPT type="module">x="</body>"</SCRIPT >' + TAG + b"</body>",
        id="upper-case-script",
    ),
    pytest.param(
        b"<body><script src='a>b'></body></script></body>",
        b"<body><script src='a>b'></body></script>" + TAG + b"</body>",
        id="quoted-gt-in-start-tag",
    ),
    pytest.param(
        b'<body><script data-x = "></body>"></body></script></body>',
        b'<body><script data-x = "></body>"></body></script>' + TAG + b"</body>",
        id="spaced-quoted-value",
    ),
    pytest.param(
        b"<body><script a=b></body></script></body>",
        b"<body><script a=b></body></script>" + TAG + b"</body>",
        id="unquoted-value",
    ),
    pytest.param(
        b"<body><scripts></body>",
        b"<body><scripts>" + TAG + b"</body>",
        id="longer-name-is-no-script",
    ),
    pytest.param(
        b"<body><style>p::after{content:'</body>'}</style></body>",
        b"<body><style>p::after{content:'</body>'}</style>" + TAG + b"</body>",
        id="style",
    ),
    pytest.param(
        b"<body><textarea></body></textarea></body>",
        b"<body><textarea></body></textarea>" + TAG + b"</body>",
        id="textarea",
    ),
    pytest.param(
        b"<body><template><p></body></template></body>",
        b"<body><template><p></body></template>" + TAG + b"</body>",
        id="template",
    ),
    pytest.param(
        b"<body><template><template></template></body></template></body>",
        b"<body><template><template></template></body></template>" + TAG + b"</body>",
        id="nested-templates",
    ),
    pytest.param(
        b"<body><template><script>'</template>'</script></body></template></body>",
        b"<body><template><script>'</template>'</script></body></template>" + TAG + b"</body>",
        id="script-in-template",
    ),
    pytest.param(
        b"</template><body></body>",
        b"</template><body>" + TAG + b"</body>",
        id="stray-template-end",
    ),
    pytest.param(
        b"<body></body><!-- </body> -->",
        b"<body>" + TAG + b"</body><!-- </body> -->",
        id="comment-after",
    ),
    pytest.param(
        b"<body><!-- a --!></body>",
        b"<body><!-- a --!>" + TAG + b"</body>",
        id="comment-bang-end",
    ),
    pytest.param(b"<!----></body>", b"<!---->" + TAG + b"</body>", id="empty-comment"),
    pytest.param(b"<!--></body>", b"<!-->" + TAG + b"</body>", id="abrupt-comment"),
    pytest.param(b"<!---></body>", b"<!--->" + TAG + b"</body>", id="abrupt-comment-dash"),
    pytest.param(b"<!-- </body>", b"<!-- </body>", id="unclosed-comment"),
    pytest.param(b"<script></body>", b"<script></body>", id="unclosed-script"),
    pytest.param(b"<template></body>", b"<template></body>", id="unclosed-template"),
    pytest.param(b"<script src='x></body>", b"<script src='x></body>", id="unclosed-quote"),
    pytest.param(b"<script a=", b"<script a=", id="ends-after-equals"),
    pytest.param(b"<script", b"<script", id="ends-in-start-tag-name"),
    # Tags that look like the ones the scan acts on, for their first letters.
    pytest.param(
        b"<body><strong>x</strong><table><tr><td>1</td></tr></table></body>",
        b"<body><strong>x</strong><table><tr><td>1</td></tr></table>" + TAG + b"</body>",
        id="look-alikes",
    ),
    pytest.param(
        b"<body><scripts></scripts><stylesheet><!x></body>",
        b"<body><scripts></scripts><stylesheet><!x>" + TAG + b"</body>",
        id="longer-names-and-bogus-comment",
    ),
    pytest.param(
        b"<title></body></title><body></body>",
        b"<title></body></title><body>" + TAG + b"</body>",
        id="title",
    ),
]


@pytest.mark.parametrize(("body", "expected"), ELIGIBLE)
def test_pixel_goes_before_the_last_body_end_outside_text(body: bytes, expected: bytes) -> None:
    assert inject(body, TAG) == expected


@pytest.mark.parametrize(("body", "expected"), ELIGIBLE)
def test_injector_matches_inject_for_every_two_cuts_of_markup(
    body: bytes, expected: bytes
) -> None:
    for chunks in two_cuts(body):
        assert injected(chunks) == expected, chunks


@pytest.mark.parametrize("name", [name.decode() for name in RAW_TEXT])
def test_every_raw_text_element_hides_body_ends(name: str) -> None:
    body = f"<body><{name}></body></{name}></body>".encode()
    assert inject(body, TAG) == body[: -len(b"</body>")] + TAG + b"</body>"


def test_streamed_body_sends_everything_before_a_candidate_at_once() -> None:
    injector = PixelInjector(TAG)
    # Script text is sent on, but for what may begin a split "</script".
    assert injector.feed(b"<body><script>x='") == b"<body><script>"
    assert injector.feed(b"</body>'</script><p>a</p></body>") == (b"x='</body>'</script><p>a</p>")
    # From the candidate on, held: a later </body> may still come.
    assert injector.feed(b"<p>b</p>") == b""
    assert injector.feed(b"</body></html>") == b"</body><p>b</p>"
    assert injector.finish() == TAG + b"</body></html>"


def test_comment_split_from_its_end_is_not_held_whole() -> None:
    injector = PixelInjector(TAG)
    sent = injector.feed(b"<!--" + b"x" * 100)
    assert sent == b"<!--" + b"x" * 97
    assert injector.feed(b"-->") == b"xxx-->"


def test_holding_after_a_candidate_is_bounded() -> None:
    injector = PixelInjector(TAG, max_held=20)
    assert injector.feed(b"<p>a</p></body>") == b"<p>a</p>"
    assert injector.feed(b"<p>0123456789</p>") == TAG + b"</body><p>0123456789</p>"
    assert injector.done
    assert injector.feed(b"</body>") == b"</body>"
    assert injector.finish() == b""


def test_oversized_start_tag_is_sent_without_a_pixel() -> None:
    injector = PixelInjector(TAG, max_held=20)
    start = b"<script data-x='" + b"y" * 30
    assert injector.feed(start) == start
    assert injector.done
    assert injector.feed(b"'></script></body>") == b"'></script></body>"


def test_default_bound_lets_a_page_tail_through() -> None:
    tail = b"<p>after</p>" * (MAX_HELD // 12 - 1)
    assert inject(b"</body>" + tail, TAG) == TAG + b"</body>" + tail
    assert injected([b"</body>", tail, b"</body>"]) == b"</body>" + tail + TAG + b"</body>"
