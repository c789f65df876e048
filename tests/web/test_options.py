"""The options declaration: its names, unknown names, 0.3's positional options."""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest

from manhattan.visitor import Visitor
from manhattan.web.options import OPTION_NAMES, POSITIONAL, Options, gather, unknown_options


class OwnVisitor(Visitor):
    """A visitor class of the user's own."""


NON_DEFAULT: dict[str, Any] = {
    "cookie_name": "mh",
    "pixel_path": "/t/p.gif",
    "host_map": {"example.com": 3},
    "buffer_writes": False,
    "secure": True,
    "samesite": "Strict",
    "max_age": 60,
    "domain": "example.com",
    "path": "/shop",
    "count_page": lambda *args: True,
    "record_headers": ("Accept-Language",),
    "anonymize_ip": True,
    "respect_gpc": True,
    "visitor_class": OwnVisitor,
    "exclude": ["192.0.2.0/24"],
}
"""A value other than the default for every option (the adapters' tests use it too)."""

FLAGS = [name for name, kind in typing.get_type_hints(Options).items() if kind is bool]
"""The options declared as ``bool``."""


def test_the_table_names_every_declared_option() -> None:
    # A new option needs a value here, so that every adapter is tried with it.
    assert set(NON_DEFAULT) == OPTION_NAMES == set(typing.get_type_hints(Options))


def test_the_positional_options_are_0_3s_in_its_order() -> None:
    assert POSITIONAL == ("cookie_name", "pixel_path", "host_map", "buffer_writes")
    assert set(POSITIONAL) <= OPTION_NAMES


def test_flags_are_the_switches() -> None:
    assert sorted(FLAGS) == [
        "anonymize_ip",
        "buffer_writes",
        "respect_gpc",
        "secure",
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param([], None, id="none-given"),
        pytest.param(["secure", "path"], None, id="all-known"),
        pytest.param(
            ["anonymise_ip"],
            "unknown option 'anonymise_ip' (did you mean 'anonymize_ip'?)",
            id="typo",
        ),
        pytest.param(
            ["respect_gcp", "cookiename"],
            "unknown options 'cookiename' (did you mean 'cookie_name'?), "
            "'respect_gcp' (did you mean 'respect_gpc'?)",
            id="two-typos",
        ),
        pytest.param(
            ["colour"],
            "unknown option 'colour'; the options are " + ", ".join(sorted(OPTION_NAMES)),
            id="nothing-close",
        ),
        pytest.param(
            [1, "securee"],
            "unknown options 'securee' (did you mean 'secure'?), 1; the options are "
            + ", ".join(sorted(OPTION_NAMES)),
            id="not-a-str",
        ),
    ],
)
def test_unknown_options(given: list[object], expected: str | None) -> None:
    assert unknown_options(given, OPTION_NAMES) == expected


@pytest.mark.parametrize(
    ("positional", "options", "expected"),
    [
        pytest.param((), {}, {}, id="nothing"),
        pytest.param((), {"secure": True}, {"secure": True}, id="by-name"),
        pytest.param(("mh",), {"secure": True}, {"cookie_name": "mh", "secure": True}, id="one"),
        pytest.param(
            ("mh", "/p.gif", {"a.com": 1}, False),
            {},
            {
                "cookie_name": "mh",
                "pixel_path": "/p.gif",
                "host_map": {"a.com": 1},
                "buffer_writes": False,
            },
            id="all-four",
        ),
    ],
)
def test_gather(
    positional: tuple[Any, ...], options: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert gather(positional, options) == expected


@pytest.mark.parametrize(
    ("positional", "options", "message"),
    [
        pytest.param(
            ("mh", "/p.gif", None, True, "extra"),
            {},
            "at most 4 options follow secret by position "
            "(cookie_name, pixel_path, host_map, buffer_writes), not 5: name the others",
            id="too-many",
        ),
        pytest.param(
            ("mh", "/p.gif"),
            {"pixel_path": "/q.gif"},
            "option 'pixel_path' given both by position and by name",
            id="both-ways",
        ),
    ],
)
def test_gather_refuses(
    positional: tuple[Any, ...], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        gather(positional, options)
