"""The quickstart (docs/quickstart.md) runs as written: every block, in order,
in an empty directory, against real processes (the app, manhattan-server,
manhattan-dashboard), with the console scripts of this venv first on PATH.

One change is made to the text: the ports the page uses (8000 for the app,
5555 for the query socket, 8080 for the dashboard) become free ones, so
the test can run beside other servers on the machine. Background processes
(``&``) are stopped at the end with their shell's process group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.quickstart import Block, blocks, page

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
PORTS = ("8000", "5555", "8080")
STEP_TIMEOUT = 120
STOP_TIMEOUT = 10


def free_port() -> str:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


class Steps:
    """Runs blocks in a directory, keeping the process groups it started."""

    def __init__(self, directory: Path, ports: dict[str, str]) -> None:
        self.directory = directory
        self.ports = ports
        self.groups: list[int] = []
        venv_bin = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
        self.env.pop("PYTHONPATH", None)

    def text(self, block: Block) -> str:
        """The block's text with the page's ports replaced by free ones."""
        # One pass, whole numbers only: a free port chosen for one (say
        # 38080) must not be rewritten again as holding another (8080).
        pattern = r"\b(" + "|".join(map(re.escape, self.ports)) + r")\b"
        return re.sub(pattern, lambda match: self.ports[match.group(1)], block.text)

    def run(self, block: Block) -> str:
        """Run (or write) ``block``; its stdout."""
        text = self.text(block)
        if block.mark == "file":
            (self.directory / block.argument).write_text(text, encoding="utf-8")
            return ""
        if block.language == "python":
            command = [sys.executable, "-c", text]
        else:
            command = ["bash", "-e", "-c", text]
        out = self.directory / f".step-{block.line}.out"
        with out.open("wb") as stdout:
            # Files, not pipes: a background process keeps its shell's
            # stdout open, and reading a pipe to its end would wait for it.
            process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.groups.append(process.pid)
            status = process.wait(timeout=STEP_TIMEOUT)
        output = out.read_text(encoding="utf-8", errors="replace")
        assert status == 0, f"quickstart.md line {block.line} exited {status}:\n{output}"
        return output

    def stop(self) -> None:
        """SIGTERM every process group started, then wait for them to go
        (a server commits and exits on SIGTERM), SIGKILL past a timeout."""
        alive = [group for group in self.groups if signal_group(group, signal.SIGTERM)]
        deadline = time.monotonic() + STOP_TIMEOUT
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [group for group in alive if signal_group(group, 0)]
        for group in alive:
            signal_group(group, signal.SIGKILL)


def signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to a process group; whether any process was in it."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def steps(tmp_path: Path) -> Iterator[Steps]:
    """A runner in an empty directory, its processes stopped afterwards."""
    runner = Steps(tmp_path, {port: free_port() for port in PORTS})
    yield runner
    runner.stop()


def test_every_block_of_the_quickstart_runs_in_order(steps: Steps) -> None:
    ran = checked = 0
    output = ""
    for block in page(QUICKSTART):
        if block.mark == "skip":
            continue
        if block.mark == "output":
            assert output.strip().splitlines() == block.text.strip().splitlines(), (
                f"quickstart.md line {block.line}: the step before printed\n{output}"
            )
            checked += 1
            continue
        output = steps.run(block)
        ran += 1
    # The page's own promise: only the install step is not run.
    skipped = [block for block in page(QUICKSTART) if block.mark == "skip"]
    assert len(skipped) == 1
    assert "pip install" in skipped[0].text
    assert ran + checked + len(skipped) == len(page(QUICKSTART))
    assert checked >= 2


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        pytest.param("```sh\nls\n```\n", [("sh", "ls\n", "", "")], id="run"),
        pytest.param(
            "% quickstart: file a.py\n\n```python\nx = 1\n```\n",
            [("python", "x = 1\n", "file", "a.py")],
            id="file-after-blank-line",
        ),
        pytest.param(
            "% quickstart: skip (needs the network)\n```sh\npip install x\n```\n",
            [("sh", "pip install x\n", "skip", "(needs the network)")],
            id="skip-with-reason",
        ),
        pytest.param(
            "% quickstart: output\n````text\n```\n````\n",
            [("text", "```\n", "output", "")],
            id="longer-fence",
        ),
        pytest.param(
            "% quickstart: skip\n\ntext between\n\n```sh\nls\n```\n",
            [("sh", "ls\n", "", "")],
            id="mark-not-just-before",
        ),
    ],
)
def test_blocks_reads_fences_and_marks(
    markdown: str, expected: list[tuple[str, str, str, str]]
) -> None:
    found = [(b.language, b.text, b.mark, b.argument) for b in blocks(markdown)]
    assert found == expected


def test_ports_are_replaced_once_and_whole(tmp_path: Path) -> None:
    steps = Steps(tmp_path, {"8000": "38080", "8080": "18000", "5555": "5556"})
    block = Block("sh", "curl :8000 :8080 :5555 :18000 :55555\n", "", "", 1)
    assert steps.text(block) == "curl :38080 :18000 :5556 :18000 :55555\n"


def test_blocks_refuses_a_language_it_cannot_run() -> None:
    with pytest.raises(ValueError, match="language 'ruby'"):
        blocks("text\n\n```ruby\nputs 1\n```\n")
