"""The line ``manhattan-server --once`` ends with (pure): what this run
read, and what the database holds, counted and not counted, so that a run
that counted nothing says why instead of leaving zeros unexplained.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Mapping

from manhattan.backend.aggregate import AWAITING_PIXEL

TROUBLESHOOTING = "see 'Troubleshooting' in Manhattan's README"


def summary_line(
    read: int, visitors: int, filtered: Mapping[str, int], *, counted_anything: bool
) -> str:
    """The summary of a run that read ``read`` records, over a database
    where ``visitors`` visitors viewed a page, ``filtered`` events were not
    counted by reason (the store's ``filtered()``), and ``counted_anything``
    says whether any counter exists at all."""
    # The largest first: the reason that explains most missing events.
    reasons = sorted(
        ((r, n) for r, n in filtered.items() if n), key=lambda item: (-item[1], item[0])
    )
    not_counted = ", ".join(f"{reason} {count:,}" for reason, count in reasons)
    line = f"this run: {_many(read, 'record')} read; database totals: "
    if counted_anything:
        line += f"{_many(visitors, 'visitor')} counted (viewed a page)"
    elif filtered.get(AWAITING_PIXEL, 0) > 0:
        return (
            f"{line}nothing counted: no visitor's browser has loaded the tracking pixel, "
            f"and only those visitors count; events not counted: {not_counted} "
            f"({TROUBLESHOOTING})"
        )
    else:
        line += "nothing counted"
    return f"{line}; events not counted: {not_counted or 'none'}"


def _many(count: int, thing: str) -> str:
    return f"{count:,} {thing}" + ("" if count == 1 else "s")
