"""`make demo` end to end, small: the shop, its visitors, a QA link, the server, the table."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from demo.shop import SECRET

from manhattan.experiments.links import FORCE_PARAMETER, LinkSigner

ROOT = Path(__file__).resolve().parent.parent


def test_demo_counts_people_and_not_bots(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo.run",
            "--people",
            "30",
            "--bots",
            "8",
            "--data",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "30 people and 8 bots" in out
    for test in ("Checkout Button", "Free Shipping Banner"):
        assert f"\n{test}\n" in out
    # Every person viewed a page and was put in one population of each test.
    visitors = re.search(r"Checkout Button\n.*\n  visitors\s+([\d,]+)\s+([\d,]+)", out)
    assert visitors is not None
    assert sum(int(n.replace(",", "")) for n in visitors.groups()) == 30
    assert "all sites: 30 visitors viewed a page" in out
    # Site analytics: every person landed on the home page; the funnel's
    # steps never grow, and its first is every person who viewed a product.
    home = re.search(r"\ntop pages:\n  /\s+([\d,]+) views\s+([\d,]+) visitors\n", out)
    assert home is not None, out
    assert int(home.group(2)) == 30
    assert "campaigns (first touch, visitors):\n" in out
    funnel = out.split("\nfunnel Checkout (visitors who reached each step in order):\n")[1]
    steps = re.findall(r"  (.+?)\s+(\d+) +\d+% ", funnel.split("\n\n")[0])
    assert [name for name, _ in steps] == [
        "Viewed Product",
        "Added To Cart",
        "Began Checkout",
        "Purchased",
    ]
    reached = [int(n) for _, n in steps]
    assert reached == sorted(reached, reverse=True)
    assert reached[0] == 30
    assert (tmp_path / "manhattan.db").exists()
    assert "Checkout Button  (control: green)" in out
    assert "sample ratio: " in out
    # One QA link, checked by the demo itself, that forces the orange button.
    link = re.search(r"\nQA link: (http://127\.0\.0\.1:\d+/product/1\?\S+)\n  shows the", out)
    assert link is not None, out
    [token] = parse_qs(urlsplit(link.group(1)).query)[FORCE_PARAMETER]
    assert LinkSigner(SECRET).verify(token) == {"Checkout Button": "orange"}
    assert "(checked on two pages; --serve keeps the shop up)\n" in out
    assert re.search(r"\ndashboard: http://127\.0\.0\.1:\d+/ \(answered 200\)\n", out)
    assert "--serve" in out.splitlines()[-1]  # it ends by saying how to keep it up


def test_demo_serve_keeps_the_dashboard_up_until_interrupted(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "demo.run", "--people", "12", "--bots", "2"]
    errors = tmp_path / "stderr"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [*command, "--data", str(tmp_path / "data"), "--serve", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as child,
    ):
        try:
            assert child.stdout is not None
            url = None
            for line in child.stdout:
                found = re.match(r"dashboard: (http://\S+) ", line)
                if found:
                    url = found.group(1)
                if line.startswith("serving the dashboard"):
                    break
            assert url is not None, errors.read_text()
            # Still up after the demo printed everything: the tests page lists both tests.
            with urllib.request.urlopen(url, timeout=30) as page:
                html = page.read().decode()
            assert "Checkout Button" in html
            assert "Free Shipping Banner" in html
            child.send_signal(signal.SIGINT)
            assert child.wait(timeout=30) == 0
        finally:
            child.kill()


def test_demo_serve_on_a_busy_port_says_so_at_once(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, "-m", "demo.run", "--data", str(tmp_path), "--serve"]
        result = subprocess.run(
            [*command, "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stdout == ""  # nothing was run first
    assert result.stderr.startswith(f"demo: cannot serve the dashboard on 127.0.0.1:{port}: ")
    assert f"--serve --port {port + 1}" in result.stderr
    assert "--port 0 for any free one" in result.stderr
    assert "Traceback" not in result.stderr
