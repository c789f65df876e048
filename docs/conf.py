"""Sphinx configuration of Manhattan's documentation (``make docs``).

Built offline with warnings as errors and nitpicky cross-references: the
theme (Furo) ships its fonts and scripts, and no extension reaches the
network (no intersphinx, no MathJax CDN: formulas are written as text).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent / "src"))

import django.conf  # noqa: E402
from manhattan_docs import internal_modules  # noqa: E402

import manhattan  # noqa: E402

# manhattan.integrations.django imports Django's settings: autodoc reads them.
django.conf.settings.configure()

project = "Manhattan"
author = "Manhattan developers"
copyright = "Manhattan developers"
release = manhattan.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
    "manhattan_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Flags stay as typed: no "--redis" turned into an en dash, no curly quotes.
smartquotes = False

html_theme = "furo"
html_title = f"Manhattan {release}"
html_static_path: list[str] = []
# No "view source" links to a forge: the site is read offline.
html_show_sourcelink = False
html_copy_source = False

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autoclass_content = "both"

# Every cross-reference must resolve, except those into what is not
# documented here: other projects (no intersphinx: the build is offline)
# and Manhattan's internal modules, whose docstrings may name each other.
nitpicky = True
EXTERNAL = [
    "collections",
    "typing",
    "os",
    "pathlib",
    "threading",
    "argparse",
    "enum",
    "decimal",
    "datetime",
    "code",
    "logging",
    "socketserver",
    "wsgiref",
    "types",
    "asyncio",
    "ipaddress",
    "sqlalchemy",
    "webob",
    "zmq",
    "redis",
    "django",
    "jinja2",
    "starlette",
    "ua_parser",
]
nitpick_ignore_regex = [
    ("py:.*", rf"{re.escape(name)}(\..*)?") for name in EXTERNAL + internal_modules()
]
# Names a docstring or an annotation gives unqualified (``QueryError``,
# ``Aggregator.ended``) or private (``_UtmRollup``): Sphinx cannot tell
# which module they mean; a qualified ``manhattan.`` name must resolve.
nitpick_ignore_regex += [("py:.*", r"(?!manhattan\.).*"), ("py:.*", r".*\._.*")]
# A dataclass field without a docstring of its own is not documented.
nitpick_ignore_regex += [("py:attr", r"manhattan\.backend\.model\.Batch\..*")]
# A class re-exported by its package (manhattan.log.TimeRotatingLog) is
# documented in both places; a reference to it still resolves to one.
suppress_warnings = ["ref.python"]
