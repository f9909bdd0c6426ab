"""Click-to-update of single clicks: one approve click at a time, with a pause in between.

    python -m bench.single_clicks [--backend sqlite] [--clicks 25] [--pause 0.8]

The click case of `bench.run` clicks again as soon as the previous card is updated, while that
click's App Homes and DMs are still going out; this runs the same case with `--pause` seconds between
clicks, so each is measured alone: an approver looking at the card they just approved. The first
clicks are warm-up and not counted.
"""

from __future__ import annotations

import argparse

from bench.cases import Memory, Sizes, case_click


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--clicks", type=int, default=25)
    parser.add_argument("--pause", type=float, default=0.8, help="seconds between clicks")
    args = parser.parse_args()
    series = case_click(args.backend, Sizes(clicks=args.clicks), Memory(), pause=args.pause)
    print(f"{args.backend}: {len(series.latencies)} single clicks, click-to-update p50 {series.p50:.1f} ms, "
          f"p99 {series.pct(99):.1f} ms, max {series.max:.1f} ms, errors {series.errors}")


if __name__ == "__main__":
    main()
