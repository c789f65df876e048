"""`make demo`: the shop, its visitors, a QA link, manhattan-server over
the log, the results, and the dashboard's address.

Run from the project root: ``python -m demo.run [--people N] [--bots N]
[--data DIR] [--serve [--port N]]``. With ``--serve`` the server, the
dashboard and the shop (for the QA link) stay up until Ctrl-C
(``make demo DEMO_ARGS=--serve``).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.request import urlopen
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from demo.shop import BANNER_TEST, BUTTON, BUTTON_TEST, SECRET, DemoVisitor, make_app
from demo.traffic import BUTTON as BUTTON_CLASS
from demo.traffic import CHROME, Browser, Tally, simulate
from manhattan.client import Client
from manhattan.client.report import render
from manhattan.dashboard import make_app as make_dashboard
from manhattan.dashboard import make_server as make_dashboard_server
from manhattan.experiments import force_link

GOALS = ["viewed page", "Added To Cart", "Began Checkout", "Purchased", "Abandoned Cart"]
ABANDONED = "Abandoned Cart|Added To Cart|Began Checkout"
FUNNEL = "Checkout"
CHECKOUT = f"{FUNNEL}|Viewed Product>Added To Cart>Began Checkout>Purchased"
DAYS = 7


def spread(total: int, day: int) -> int:
    """Day ``day``'s share of ``total`` over ``DAYS`` days (the shares add up)."""
    return total * (day + 1) // DAYS - total * day // DAYS


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "manhattan.server", *args]


def known_goals(client: Client, goals: list[str]) -> list[str]:
    """Those of ``goals`` someone reached: the server refuses a goal it has
    never seen (a typo, not a zero), and a small run may miss one."""
    known = {goal["name"] for goal in client.goals()} | {"viewed page"}
    return [goal for goal in goals if goal in known]


def table(client: Client, test: str) -> str:
    goals = known_goals(client, GOALS)
    populations = sorted(client.results(test, goals))
    width = max(len(goal) for goal in GOALS)
    lines = [f"{test}", f"  {'':<{width}}  " + "  ".join(f"{p:>10}" for p in populations)]
    impressions = [client.count(variant=(test, p)) for p in populations]
    lines.append(f"  {'visitors':<{width}}  " + "  ".join(f"{n:>10,}" for n in impressions))
    for goal in goals:
        cells = [client.count(goal, variant=(test, p)) for p in populations]
        lines.append(f"  {goal:<{width}}  " + "  ".join(f"{n:>10,}" for n in cells))
    if "Purchased" in goals:
        values = client.results(test, ["Purchased"])
        lines.append(
            f"  {'revenue':<{width}}  "
            + "  ".join(f"{'$' + format(values[p][0], ',.2f'):>10}" for p in populations)
        )
    return "\n".join(lines)


def site_analytics(client: Client) -> str:
    """Top pages, campaigns and the checkout funnel, all sites."""
    lines = ["top pages:"]
    for path, views, visitors in client.pages(limit=6):
        lines.append(f"  {path:<14} {views:>6,} views {visitors:>6,} visitors")
    lines.append("campaigns (first touch, visitors):")
    campaigns = client.breakdown("utm_campaign", ["viewed page"], order="visitors")
    for campaign, populations in campaigns.items():
        visitors = int(populations[""]["viewed page"][0])
        lines.append(f"  {campaign:<14} {visitors:>6,}")
    lines.append(f"funnel {FUNNEL} (visitors who reached each step in order):")
    steps = client.funnel(FUNNEL)
    first = steps[0][1] or 1
    for step, visitors in steps:
        bar = "#" * round(30 * visitors / first)
        lines.append(f"  {step:<14} {visitors:>6,} {visitors / first:>4.0%} {bar}")
    return "\n".join(lines)


def qa_link(base: str, population: str = "orange") -> str:
    """A QA link to a product page showing ``population`` of the button
    test, checked: it shows that button on two pages of the browser's
    session (the link's parameter, then the cookie it set)."""
    link = force_link(f"{base}/product/1", SECRET, BUTTON, population)
    # No images loaded: like a bot, this check is never counted as a visitor.
    browser = Browser(base, CHROME, False, Tally())
    shown = []
    for path in (link.removeprefix(base), "/product/2"):
        found = BUTTON_CLASS.search(browser.get(path))
        shown.append(found.group(1).decode() if found else None)
    if shown != [population, population]:
        raise RuntimeError(f"the QA link showed {shown}, not {population} twice: {link}")
    return link


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--bots", type=int, default=60)
    parser.add_argument("--data", default="demo-data", help="folder for the log and database")
    parser.add_argument(
        "--serve", action="store_true", help="keep the server and the dashboard up until Ctrl-C"
    )
    parser.add_argument(
        "--port", type=port, default=8080, help="the dashboard's port with --serve (0: any free)"
    )
    args = parser.parse_args(argv)
    # The dashboard's port is taken first, so that a busy one is said at
    # once, not after the whole run.
    bind = f"tcp://127.0.0.1:{free_port()}"
    dashboard = make_dashboard(bind, auth=None, wait=5000)
    try:
        dashboard_server = make_dashboard_server(
            dashboard, "127.0.0.1", args.port if args.serve else 0, quiet=True
        )
    except OSError as exc:
        dashboard.close()
        print(
            f"demo: cannot serve the dashboard on 127.0.0.1:{args.port}: "
            f"{exc.strerror or exc}. Pick another port: make demo "
            f"DEMO_ARGS='--serve --port {args.port + 1 if args.port < 65535 else 8081}' "
            "(or --port 0 for any free one)",
            file=sys.stderr,
        )
        return 2
    try:
        return run(args, bind, dashboard_server)
    finally:
        dashboard_server.server_close()
        dashboard.close()


def port(text: str) -> int:
    """A TCP port number (0: any free one), for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def run(args: argparse.Namespace, bind: str, dashboard_server: WSGIServer) -> int:
    """The shop, its visitors, the server and the results, then the dashboard."""
    data = Path(args.data)
    shutil.rmtree(data, ignore_errors=True)
    (data / "log").mkdir(parents=True)
    log_path = str(data / "log" / "events")
    url = f"sqlite:///{data / 'manhattan.db'}"

    httpd = make_server(
        "127.0.0.1",
        0,
        make_app(log_path),
        server_class=ThreadingServer,
        handler_class=QuietHandler,
    )
    base = f"http://127.0.0.1:{httpd.server_port}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    began = time.monotonic()
    tally = Tally()
    # A week of traffic, a day at a time, oldest first.
    for day in range(DAYS):
        DemoVisitor.days_ago = DAYS - 1 - day
        share = simulate(base, spread(args.people, day), spread(args.bots, day), seed=2014 + day)
        tally.people += share.people
        tally.bots += share.bots
        tally.requests += share.requests
    DemoVisitor.days_ago = 0
    print(
        f"shop at {base}: {tally.people} people and {tally.bots} bots made "
        f"{tally.requests:,} requests over {DAYS} (simulated) days "
        f"in {time.monotonic() - began:.1f} s"
    )
    try:
        return report(args, bind, dashboard_server, log_path, url, tally, qa_link(base))
    finally:
        httpd.shutdown()


def report(
    args: argparse.Namespace,
    bind: str,
    dashboard_server: WSGIServer,
    log_path: str,
    url: str,
    tally: Tally,
    link: str,
) -> int:
    """Count the log, print the results and the QA link, show the dashboard."""
    declared = ("--complex", ABANDONED, "--funnel", CHECKOUT)
    count = server_command("--path", log_path, "--url", url, *declared, "--once")
    subprocess.run(count, check=True)
    print(f"manhattan-server --once counted {log_path}.* into {url}")

    serve = subprocess.Popen(
        server_command("--path", log_path, "--url", url, *declared, "--bind", bind)
    )
    try:
        with Client(bind, wait=5000) as client:
            print(f"\nquerying the server at {bind}:\n")
            for test in (BUTTON_TEST, BANNER_TEST):
                print(table(client, test), end="\n\n")
            print(
                f"all sites: {client.count('viewed page'):,} visitors viewed a page "
                f"(bots never loaded the pixel, so none of their {tally.bots} is counted)"
            )
            print(f"\n{site_analytics(client)}")
            print("\nmanhattan-report (the analysis of the button test):\n")
            goals = known_goals(client, ["Added To Cart", "Purchased", "Abandoned Cart"])
            print(render(client.analyze(BUTTON_TEST, goals)))
        print(
            f"\nQA link: {link}\n  shows the orange button to whoever opens it, for their "
            f"browser session,\n  and records nothing of the {BUTTON_TEST} test for them "
            "(checked on two pages" + (")" if args.serve else "; --serve keeps the shop up)")
        )
        show_dashboard(dashboard_server, args.serve)
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    return 0


def show_dashboard(httpd: WSGIServer, keep_up: bool) -> None:
    """Serve the dashboard, check that it answers, print its address; with
    ``keep_up``, serve until SIGINT or SIGTERM."""
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/"
    try:
        with urlopen(url, timeout=30) as page:
            status = page.status
        print(f"\ndashboard: {url} (answered {status})")
        if keep_up:
            print(
                "serving the dashboard, the query server and the shop (for the QA link) "
                "until Ctrl-C",
                flush=True,
            )
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda number, frame: stop.set())
            stop.wait()
        else:
            print("(python -m demo.run --serve, or make demo DEMO_ARGS=--serve, keeps it up)")
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    sys.exit(main())
