"""The guides' code that configures the server works as the pages say: the
config file's example passes the server's checks, and the custom rollups of
the rollups guide load from the config shown and give the buckets claimed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.backend.model import Visit
from manhattan.backend.rollups import build_rollups
from manhattan.server.config import merge
from tests.docs.quickstart import page

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_blocks(path: Path) -> list[str]:
    """The ``python`` blocks of a page, in order."""
    return [block.text for block in page(path) if block.language == "python"]


def test_the_config_example_passes_the_servers_checks() -> None:
    (example,) = python_blocks(DOCS / "reference" / "config.md")
    namespace: dict[str, object] = {}
    exec(example, namespace)
    config = namespace["SERVER"]
    assert isinstance(config, dict)
    settings = merge(config, {}).check()
    assert settings.funnel == config["funnel"]
    # The rollups it names that are built in are built in.
    builtin = [name for name in settings.rollups or () if isinstance(name, str)]
    assert [rollup.name for rollup in build_rollups(builtin)] == builtin


@pytest.fixture
def myproject(tmp_path: Path) -> Iterator[Path]:
    """The rollups guide's ``myproject`` package, importable."""
    blocks = python_blocks(DOCS / "guides" / "rollups.md")
    rollups = next(text for text in blocks if text.startswith("# myproject/rollups.py"))
    config = next(text for text in blocks if text.startswith("# myproject/manhattan_config.py"))
    package = tmp_path / "myproject"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rollups.py").write_text(rollups)
    (package / "manhattan_config.py").write_text(config)
    sys.path.insert(0, str(tmp_path))
    yield package
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.partition(".")[0] == "myproject"]:
        del sys.modules[name]


@pytest.mark.usefixtures("myproject")
@pytest.mark.parametrize(
    ("header", "timestamp", "expected"),
    [
        # 2023-11-14 22:13:20 UTC, a Tuesday.
        pytest.param("fr-CH, fr;q=0.9, en;q=0.8", 1_700_000_000.0, ("fr", "weekday"), id="fr"),
        # 2023-11-18 12:00:00 UTC, a Saturday.
        pytest.param("en-US,en;q=0.5", 1_700_308_800.0, ("en", "weekend"), id="en-weekend"),
        pytest.param("", 1_700_000_000.0, ("unknown", "weekday"), id="no-header"),
    ],
)
def test_the_custom_rollups_load_from_the_config_shown(
    header: str, timestamp: float, expected: tuple[str, str]
) -> None:
    from myproject.manhattan_config import SERVER  # type: ignore[import-not-found]

    settings = merge(SERVER, {}).check()
    rollups = {rollup.name: rollup for rollup in build_rollups(settings.rollups)}
    visit = Visit(headers={"Accept-Language": header} if header else {})
    found = (
        rollups["language"].bucket(timestamp, visit),
        rollups["weekend"].bucket(timestamp, visit),
    )
    assert found == expected
    # As the guide says: a function is asked for every event, and so is
    # the class that declares per_visitor = False.
    assert not rollups["language"].per_visitor
    assert not rollups["weekend"].per_visitor
