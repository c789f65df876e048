"""The ``pages`` export of ``manhattan-export`` (an entry of
:data:`manhattan.client.export.EXPORTERS`): per site (all sites together,
where ``site`` is empty, then each), page rollup, bucket and path, the page
views, the unique visitors and the visits that began on the path.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import argparse
from typing import Any

from manhattan import _cli
from manhattan.client import Client

MAX_PAGES_LIMIT = 1000
"""The most paths one bucket's query answers (the server's limit)."""

PAGE_COLUMNS = ("site", "rollup", "bucket", "path", "views", "visitors", "entries")


_limit = _cli.whole_number(1, maximum=MAX_PAGES_LIMIT)
"""An argparse ``type``: paths per bucket."""


def page_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``manhattan-export pages``."""
    parser.add_argument(
        "--rollup",
        action="append",
        dest="rollups",
        metavar="KEY",
        help="a page rollup to export (repeatable; default: all, the totals), e.g. day",
    )
    parser.add_argument(
        "--bucket", help="one bucket of each rollup, e.g. 2026-12-01 (default: every bucket)"
    )
    parser.add_argument(
        "--site", type=_cli.index, help="one site id (default: all sites together, then each)"
    )
    parser.add_argument(
        "--limit",
        type=_limit,
        default=MAX_PAGES_LIMIT,
        help=f"paths per bucket, the most viewed, at most {MAX_PAGES_LIMIT} "
        f"(default {MAX_PAGES_LIMIT})",
    )


def page_rows(client: Client, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The ``pages`` rows, most viewed first in each bucket. ``entries`` is
    empty where the path is beyond the ``--limit`` most frequent entry pages."""
    sites: list[int | None] = [args.site] if args.site is not None else [None, *client.sites()]
    rows = []
    for site in sites:
        for rollup in dict.fromkeys(args.rollups or ["all"]):
            if args.bucket is not None:
                buckets = [args.bucket]
            else:
                buckets = [bucket for bucket, _ in client.page_totals(site, rollup)]
            for bucket in buckets:
                entries = dict(client.entry_pages(site, rollup, bucket, args.limit))
                complete = len(entries) < args.limit
                for path, views, visitors in client.pages(site, rollup, bucket, args.limit):
                    rows.append(
                        {
                            "site": site,
                            "rollup": rollup,
                            "bucket": bucket,
                            "path": path,
                            "views": views,
                            "visitors": visitors,
                            "entries": entries.get(path, 0 if complete else None),
                        }
                    )
    return rows
