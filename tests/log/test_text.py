"""The text line codec of the spec ("Log records and the text line format")."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from manhattan.log.text import (
    MIN_FIELDS,
    MalformedLineError,
    decode_line,
    encode_record,
    encode_records,
)

# Every code point, surrogates included, with the characters the escaping is
# about drawn often.
any_char = st.one_of(
    st.sampled_from("\t\n\r\\\x00\x7f'\"{}N\xe9\u20ac\U0001f600\ud800\udfff"),
    st.characters(exclude_categories=()),
)
records = st.lists(st.text(alphabet=any_char), min_size=5, max_size=12)

VID = "0123456789abcdef0123456789abcdef01234567"


@given(records)
@example(["", "", "", "", ""])
@example(["\t", "\n", "\\", "\\t", "\ud83d\ude00"])
def test_every_record_round_trips(record):
    line = encode_record(record)

    assert decode_line(line) == record
    assert line.isascii()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line.count(b"\t") == len(record) - 1


@given(st.lists(records, max_size=5))
def test_encode_records_is_the_lines_one_after_another(batch):
    data = encode_records(batch)

    lines = data.split(b"\n")
    assert lines.pop() == b""
    assert [decode_line(line) for line in lines] == batch


def test_encode_records_of_nothing_is_empty():
    assert encode_records([]) == b""


def test_encode_record_accepts_any_sequence_of_strings():
    assert encode_record(("a", "b")) == b"a\tb\n"


# What unicode_escape makes of one field, known independently of the code:
# backslash escapes for tab, newline, CR and backslash, \xhh below U+0100,
# \uhhhh in the BMP, \Uhhhhhhhh beyond it; printable ASCII (quotes included)
# stays as it is.
@pytest.mark.parametrize(
    ("field", "encoded"),
    [
        pytest.param("plain text 123", b"plain text 123", id="printable-ascii"),
        pytest.param("", b"", id="empty"),
        pytest.param("a\tb", b"a\\tb", id="tab"),
        pytest.param("a\nb", b"a\\nb", id="newline"),
        pytest.param("a\rb", b"a\\rb", id="carriage-return"),
        pytest.param("a\\b", b"a\\\\b", id="backslash"),
        pytest.param("\\t", b"\\\\t", id="backslash-then-t"),
        pytest.param("'\"", b"'\"", id="quotes-unchanged"),
        pytest.param("\x00\x1b\x7f", b"\\x00\\x1b\\x7f", id="control-characters"),
        pytest.param("caf\xe9", b"caf\\xe9", id="latin-1"),
        pytest.param("\xff", b"\\xff", id="y-diaeresis"),
        pytest.param("\u20ac", b"\\u20ac", id="bmp"),
        pytest.param("\U0001f600", b"\\U0001f600", id="non-bmp"),
        pytest.param("\ud800", b"\\ud800", id="lone-high-surrogate"),
        pytest.param("\udfff", b"\\udfff", id="lone-low-surrogate"),
        pytest.param("\U0010ffff", b"\\U0010ffff", id="last-code-point"),
    ],
)
def test_field_encoding_is_unicode_escape(field, encoded):
    record = ["1", "goal", field, VID, "0"]
    line = b"1\tgoal\t" + encoded + b"\t" + VID.encode() + b"\t0\n"

    assert encode_record(record) == line
    assert decode_line(line) == record


# Escapes no writer of ours produces but unicode_escape reads (a 0.3 line or
# a hand-made one may hold them).
@pytest.mark.parametrize(
    ("escaped", "field"),
    [
        pytest.param(b"\\N{LATIN SMALL LETTER E WITH ACUTE}", "\xe9", id="named"),
        pytest.param(b"\\u00e9\\U000000E9", "\xe9\xe9", id="long-forms-any-case"),
        pytest.param(b"\\101\\0\\377", "A\x00\xff", id="octal"),
        pytest.param(b"\\3777", "\xff7", id="octal-takes-three-digits"),
        pytest.param(b"\\47x\\4", "'x\x04", id="short-octal-from-4"),
        pytest.param(b"\\'\\\"", "'\"", id="escaped-quotes"),
        pytest.param(b"\\a\\b\\f\\v", "\a\b\f\v", id="c-escapes"),
    ],
)
def test_decode_reads_other_legal_escapes(escaped, field):
    assert decode_line(b"1\tgoal\t" + escaped + b"\tv\t0\n") == ["1", "goal", field, "v", "0"]


def test_decode_accepts_a_line_without_its_newline():
    assert decode_line(b"1\tpixel\t1.0000\tv\t0") == ["1", "pixel", "1.0000", "v", "0"]


def test_decode_keeps_fields_past_the_minimum():
    line = b"\t".join(str(i).encode() for i in range(12))

    assert decode_line(line) == [str(i) for i in range(12)]


def test_min_fields_is_the_five_common_fields():
    # version, kind, timestamp, visitor id, site id
    assert MIN_FIELDS == 5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(b"", "fields", id="empty-line"),
        pytest.param(b"\n", "fields", id="only-newline"),
        pytest.param(b"1\tpage\t1400000000.1234\tvid\n", "fields", id="four-fields"),
        pytest.param(b"1 page 1400000000.1234 vid 0\n", "fields", id="spaces-not-tabs"),
        pytest.param(b"1\tgoal\tcaf\xc3\xa9\tv\t0\n", "non-ASCII", id="utf-8-byte"),
        pytest.param(b"1\tgoal\t\xe9\tv\t0\n", "non-ASCII", id="latin-1-byte"),
        pytest.param(b"1\tgoal\t\\q\tv\t0\n", "escape", id="unknown-escape"),
        pytest.param(b"1\tgoal\tx\tv\t0\\\n", "escape", id="trailing-lone-backslash"),
        pytest.param(b"1\tgoal\tx\\\tv\t0\n", "escape", id="backslash-before-tab"),
        pytest.param(b"1\tgoal\t\\x4\tv\t0\n", "escape", id="x-one-hex-digit"),
        pytest.param(b"1\tgoal\t\\x4g\tv\t0\n", "escape", id="x-non-hex-digit"),
        pytest.param(b"1\tgoal\t\\u20a\tv\t0\n", "escape", id="u-three-digits"),
        pytest.param(b"1\tgoal\t\\U0001f60\tv\t0\n", "escape", id="U-seven-digits"),
        pytest.param(b"1\tgoal\t\\U00110000\tv\t0\n", "escape", id="U-beyond-unicode"),
        pytest.param(b"1\tgoal\t\\N{NOT A REAL NAME}\tv\t0\n", "escape", id="unknown-name"),
        pytest.param(b"1\tgoal\t\\N{}\tv\t0\n", "escape", id="empty-name"),
        pytest.param(b"1\tgoal\t\\NAME\tv\t0\n", "escape", id="name-without-braces"),
        pytest.param(b"1\tgoal\t\\400\tv\t0\n", "escape", id="octal-above-377"),
        pytest.param(b"1\tgoal\t\\777\tv\t0\n", "escape", id="octal-777"),
        pytest.param(b"1\tgoal\t\\8\tv\t0\n", "escape", id="eight-is-not-octal"),
    ],
)
def test_malformed_lines_raise_with_a_reason(line, message):
    with pytest.raises(MalformedLineError, match=message):
        decode_line(line)


def test_malformed_line_error_is_a_value_error():
    assert issubclass(MalformedLineError, ValueError)


# Any ASCII line either decodes or is refused as malformed: never another
# exception, never a DeprecationWarning from the codec (warnings are errors).
@given(st.lists(st.text(alphabet="\\01234789abfnrtuvxNU{}Aq '\"", max_size=12), min_size=5))
@example(["\\400", "\\47", "\\3777", "\\N{}", "\\"])
def test_any_ascii_line_decodes_or_is_malformed(fields):
    line = "\t".join(fields).encode("ascii")
    try:
        record = decode_line(line)
    except MalformedLineError:
        return
    assert len(record) == len(fields)
    assert all(isinstance(field, str) for field in record)


@pytest.mark.parametrize(
    ("line", "record"),
    [
        pytest.param(
            b"1\tpage\t1400000000.1234\t" + VID.encode() + b"\t\t1.2.3.4\tGET\thttp://x/\tUA\t\n",
            ["1", "page", "1400000000.1234", VID, "", "1.2.3.4", "GET", "http://x/", "UA", ""],
            id="page-empty-site-and-referer",
        ),
        pytest.param(
            b"1\tpixel\t1400000001.0000\t" + VID.encode() + b"\t\n",
            ["1", "pixel", "1400000001.0000", VID, ""],
            id="pixel",
        ),
        pytest.param(
            b"1\tgoal\t1400000002.5000\t" + VID.encode() + b"\t\tadd to cart\t12.5\tS\t$\n",
            ["1", "goal", "1400000002.5000", VID, "", "add to cart", "12.5", "S", "$"],
            id="goal",
        ),
        pytest.param(
            b"1\tgoal\t1400000002.5000\t" + VID.encode() + b"\t\tsignup\t\t\t\n",
            ["1", "goal", "1400000002.5000", VID, "", "signup", "", "", ""],
            id="goal-without-value",
        ),
        pytest.param(
            b"1\tsplit\t1400000003.0001\t" + VID.encode() + b"\t\tred or blue\tred\n",
            ["1", "split", "1400000003.0001", VID, "", "red or blue", "red"],
            id="split",
        ),
        pytest.param(
            b"1\tpage\t1400000004.0000\t" + VID.encode() + b"\t\t::1\tPOST\t"
            b"http://x/?q=caf\\xe9\tMozilla/5.0 (X11)\\tbad\thttp://ref/\n",
            [
                *("1", "page", "1400000004.0000", VID, "", "::1", "POST"),
                *("http://x/?q=caf\xe9", "Mozilla/5.0 (X11)\tbad", "http://ref/"),
            ],
            id="page-with-escapes",
        ),
    ],
)
def test_lines_written_by_0_3_decode(line, record):
    assert decode_line(line) == record
