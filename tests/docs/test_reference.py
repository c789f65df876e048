"""The reference is complete: every public module has its page, every console
script its section generated from its parser, every SQL table and every
config key its entry. A new module, script, table or setting fails here
until it is documented."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"


def docs_extension() -> ModuleType:
    """docs/_ext/manhattan_docs.py, the extension that finds the public modules."""
    spec = importlib.util.spec_from_file_location(
        "manhattan_docs", DOCS / "_ext" / "manhattan_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def directive_arguments(text: str, directive: str) -> list[str]:
    """The arguments of every ``.. DIRECTIVE:: ARGUMENT`` in ``text``."""
    return re.findall(rf"^\s*\.\. {re.escape(directive)}:: *(\S+)", text, re.MULTILINE)


def test_every_public_module_is_on_an_api_page() -> None:
    extension = docs_extension()
    api = REFERENCE / "api"
    documented = set(directive_arguments((api / "index.md").read_text(), "automodule"))
    for page in api.glob("*.md"):
        for package in directive_arguments(page.read_text(), "manhattan-api"):
            documented.update(extension.public_modules(package))
    assert documented == set(extension.public_modules("manhattan"))


def test_internal_modules_say_so_and_are_left_out() -> None:
    extension = docs_extension()
    internal = extension.internal_modules("manhattan")
    public = extension.public_modules("manhattan")
    assert "manhattan._cli" in internal
    assert "manhattan.web.cookies" in internal  # its docstring says "Internal"
    assert "manhattan.visitor.visitor" in public
    assert not set(internal) & set(public)


def scripts() -> dict[str, str]:
    """The console scripts of pyproject.toml: name -> entry point."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    result: dict[str, str] = project["project"]["scripts"]
    return result


def argparse_sections(text: str) -> dict[str, tuple[str, str]]:
    """``{prog: (module, function)}`` of the argparse directives in ``text``."""
    found = {}
    for block in re.findall(r"\.\. argparse::\n((?:   :\w+:.*\n)+)", text):
        options = dict(re.findall(r":(\w+): (.*)", block))
        found[options["prog"]] = (options["module"], options["func"])
    return found


def test_every_console_script_is_documented_from_its_own_parser() -> None:
    from manhattan import _entry

    text = (REFERENCE / "cli.md").read_text()
    sections = argparse_sections(text)
    assert set(sections) == set(scripts())
    launched = {
        value.program: value.module
        for value in vars(_entry).values()
        if isinstance(value, _entry.Script)
    }
    for program in scripts():
        assert f"(cli-{program})=" in text
        module, function = sections[program]
        # The module documented is the one the script runs.
        assert launched[program] == module
        parser = getattr(importlib.import_module(module), function)()
        assert isinstance(parser, argparse.ArgumentParser)
        assert parser.prog == program


def definition_terms(text: str) -> set[str]:
    """The terms of a MyST definition list: a line of one code span,
    followed by a ``: definition`` line."""
    return set(re.findall(r"^`([^`]+)`\n: ", text, re.MULTILINE))


def test_every_table_of_the_schema_is_described() -> None:
    from manhattan.backend.persistence.schema import metadata

    described = definition_terms((REFERENCE / "schema.md").read_text())
    assert described == set(metadata.tables)


def config_keys(text: str) -> set[str]:
    """The keys named in the first column of the config page's table."""
    keys: set[str] = set()
    for cell in re.findall(r"^\| (`[^|]*`(?:, `[^|]*`)*) \|", text, re.MULTILINE):
        keys.update(re.findall(r"`([^`]+)`", cell))
    return keys


def test_every_config_key_is_in_the_config_table() -> None:
    from manhattan.server.config import Settings

    assert config_keys((REFERENCE / "config.md").read_text()) == {
        item.name for item in fields(Settings)
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("| `a` | 1 | x |\n", {"a"}, id="one"),
        pytest.param("| `a`, `b` | 1, 2 | x |\n", {"a", "b"}, id="two"),
        pytest.param("| key | default |\n|---|---|\n", set(), id="header"),
    ],
)
def test_config_keys_reads_the_first_column(text: str, expected: set[str]) -> None:
    assert config_keys(text) == expected


def test_argparse_sections_reads_the_directive_options() -> None:
    text = (
        "```{eval-rst}\n.. argparse::\n   :module: m.cli\n   :func: build_parser\n"
        "   :prog: tool\n   :nodescription:\n```\n"
    )
    assert argparse_sections(text) == {"tool": ("m.cli", "build_parser")}
