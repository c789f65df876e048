"""Directives that generate reference pages from the code, so they cannot drift.

- ``.. manhattan-api:: PACKAGE`` documents ``PACKAGE`` and each of its
  public modules (autodoc): every module below it whose name has no
  leading underscore and whose docstring does not say "Internal: not part
  of the public API" (the convention :mod:`manhattan` states).
- ``.. manhattan-schema::`` lists every table of the SQL schema
  (``manhattan.backend.persistence.schema.metadata``) with its columns,
  types, keys and nullability.

Modules are found by reading their source (:func:`public_modules`), not
by importing them; the test of the reference pages uses the same function.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

SRC = Path(__file__).resolve().parents[2] / "src"
INTERNAL = "Internal: not part of the public API"


def module_name(path: Path) -> str:
    """The dotted name of the module at ``path`` (under ``src``)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_public(path: Path) -> bool:
    """Whether the module at ``path`` is public: no ``_`` in its name, and
    a docstring that does not call it internal."""
    name = module_name(path)
    if any(part.startswith("_") for part in name.split(".")):
        return False
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return INTERNAL not in " ".join(doc.split())


def internal_modules(package: str = "manhattan") -> list[str]:
    """Every module of ``package`` that is not public, sorted."""
    root = SRC.joinpath(*package.split("."))
    names = {module_name(path) for path in root.rglob("*.py")}
    return sorted(names - set(public_modules(package)))


def public_modules(package: str = "manhattan") -> list[str]:
    """Every public module of ``package`` (itself included), sorted."""
    root = SRC.joinpath(*package.split("."))
    paths = list(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    return sorted({module_name(path) for path in paths if path.exists() and is_public(path)})


class ApiDirective(SphinxDirective):
    """``.. manhattan-api:: PACKAGE``: autodoc of the package's public modules."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        package = self.arguments[0]
        lines: list[str] = []
        for name in public_modules(package):
            # The page's title names the package: its own section would repeat it.
            if name != package:
                lines += [name, "-" * len(name), ""]
            lines += [f".. automodule:: {name}", ""]
        if not lines:
            raise self.error(f"no public module in {package!r}")
        content = StringList(lines, source=f"<manhattan-api {package}>")
        holder = nodes.section()
        holder.document = self.state.document
        # Titles inside the generated content: the sections become the page's.
        nested_parse_with_titles(self.state, content, holder)
        return holder.children


def _type_name(column: Any) -> str:
    return type(column.type).__name__


class SchemaDirective(SphinxDirective):
    """``.. manhattan-schema::``: one table of columns per SQL table."""

    def run(self) -> list[nodes.Node]:
        from manhattan.backend.persistence import schema

        lines: list[str] = []
        for table in schema.metadata.sorted_tables:
            lines += [
                f".. list-table:: ``{table.name}``",
                "   :header-rows: 1",
                "   :widths: 25 20 15 15",
                "",
                "   * - column",
                "     - type",
                "     - key",
                "     - null",
            ]
            for column in table.columns:
                lines += [
                    f"   * - ``{column.name}``",
                    f"     - {_type_name(column)}",
                    "     - primary" if column.primary_key else "     -",
                    "     - yes" if column.nullable and not column.primary_key else "     - no",
                ]
            lines.append("")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="<manhattan-schema>"), 0, container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives."""
    app.add_directive("manhattan-api", ApiDirective)
    app.add_directive("manhattan-schema", SchemaDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
