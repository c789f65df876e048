"""Always-valid decisions under daily looks, simulated: the figures.

Run: ``.venv/bin/python bench/sequential.py [--experiments N] [--looks N]
[--planned-day N] [--base-rate P] [--minimum-effect E] [--seed N]``.

The same simulation as ``tests/analysis/test_sequential.py``
(``tests/analysis/simulation.py``), with more experiments: A/A experiments
(no difference) and A/B experiments at exactly the plan's minimum effect,
looked at daily, the planned size reached on ``--planned-day``. Prints, for
A/A, the share ever declared significant by the fixed-horizon p-value
(peeking) against the share the always-valid decision ever named a winner;
for A/B, the share decided for the variant by the planned size and by the
last look, the size by which the plan's power is reached, and the median
size at the first decision, relative to the planned size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis.simulation import simulate, standard_error

from manhattan.analysis.plan import Plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=10_000, help="of each kind")
    parser.add_argument("--looks", type=int, default=28, help="daily looks")
    parser.add_argument("--planned-day", type=int, default=14, help="the day the plan is met")
    parser.add_argument("--base-rate", type=float, default=0.1, help="control's rate")
    parser.add_argument("--minimum-effect", type=float, default=0.05, help="relative lift")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    plan = Plan("Buy", minimum_effect=args.minimum_effect)
    started = time.perf_counter()
    aa, ab = (
        simulate(
            args.experiments,
            lift,
            seed=args.seed + offset,
            looks=args.looks,
            planned_day=args.planned_day,
            base_rate=args.base_rate,
            plan=plan,
        )
        for offset, lift in enumerate((0.0, args.minimum_effect))
    )
    elapsed = time.perf_counter() - started
    n = args.experiments
    print(
        f"{n:,} A/A and {n:,} A/B experiments, {args.looks} daily looks, base rate "
        f"{args.base_rate:g}, minimum effect {args.minimum_effect:+.0%}, alpha {plan.alpha}, "
        f"power {plan.power}: planned size {aa.planned:,} per population, reached on day "
        f"{args.planned_day} ({elapsed:.0f} s)"
    )
    false_positive = aa.winner + aa.control_won
    print("A/A, share ever declared significant (+- 1 SE):")
    print(f"  fixed-horizon p < {plan.alpha}, peeking daily:  {aa.peeking:6.1%} "
          f"+- {standard_error(aa.peeking, n):.1%}")  # fmt: skip
    print(f"  always-valid decision, a winner:     {false_positive:6.1%} "
          f"+- {standard_error(false_positive, n):.1%}")  # fmt: skip
    print(f"  always-valid: no difference large enough: {aa.no_difference:6.1%}")
    print("A/B at the minimum effect, share deciding for the variant:")
    print(f"  by the planned size:                 {ab.winner_by_plan:6.1%}")
    print(f"  by the last look ({args.looks / args.planned_day:.1f}x the plan):"
          f"        {ab.winner:6.1%}")  # fmt: skip
    reached = next(
        (look + 1 for look, share in enumerate(ab.won_by_look) if share >= plan.power), None
    )
    print(
        f"  the declared power ({plan.power:.0%}) reached at: "
        + (f"{reached / args.planned_day:.2f}x the planned size" if reached else "not reached")
    )
    print(f"  median size at the first decision:   {ab.median_stop:.2f}x the planned size")
    print(f"  fixed-horizon p ever < {plan.alpha} (peeking):    {ab.peeking:6.1%}")


if __name__ == "__main__":
    main()
