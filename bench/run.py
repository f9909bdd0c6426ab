"""Koho's benchmarks: the real bot (HTTP, its own processes) against the fake Slack on loopback.

    python -m bench.run [--only CASE[,CASE]] [--quick] [--backends sqlite,postgresql]
                        [--topology auto|procfile|single] [--output FILE]

The bot runs as each database is deployed: on PostgreSQL as the Procfile runs it (`serve --with-workers`
and `worker`), on SQLite as `make run` does (one `serve`); `--topology` makes it one of those for both.

Cases (issue 7): acks (ack latency beside a bare Bolt app), click (click-to-update), intake (webhook
comments), surge (1,000 comments into one rate-limited channel), emergency (the /emergency fan-out),
startup (start-up and memory; RSS under load is sampled during every other case). Each runs on every
backend. Without --only and --quick it writes docs/benchmarks.md (figures, machine, targets met or
missed); otherwise it prints the report and writes it only to --output.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import cases
from bench.harness import ROOT, cpu_busy, load_average, speed_check, vacuum_postgres_catalogs
from bench.report import Report

CASES = ("acks", "click", "intake", "surge", "emergency", "startup")
FINDINGS = Path(__file__).with_name("findings.md")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases: {', '.join(CASES)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look (not for the record)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--output", help="where to write the report (default: docs/benchmarks.md for a full run)")
    parser.add_argument("--topology", choices=["auto", "procfile", "single"], default="auto",
                        help="auto (default): PostgreSQL as the Procfile runs it (web process and worker), SQLite as "
                             "`make run` does (one process); procfile or single: that for both")
    args = parser.parse_args(argv)
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in args.only if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if bad := [b for b in args.backends if b not in ("sqlite", "postgresql")]:
        parser.error(f"unknown backend(s) {', '.join(bad)}; choose from sqlite, postgresql")
    full = (set(args.only) == set(CASES) and not args.quick and set(args.backends) == {"sqlite", "postgresql"}
            and args.topology == "auto")
    if args.output is None and full:
        args.output = str(ROOT / "docs" / "benchmarks.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = (cases.Sizes.quick() if args.quick else cases.Sizes()).with_topology(args.topology)
    busy_before = cpu_busy()
    speed_before = speed_check()
    started, load_before = datetime.now(UTC), load_average()
    memory = {backend: cases.Memory() for backend in args.backends}
    results: dict[str, dict] = {name: {} for name in CASES}
    bare = None
    notes = [f"Cases run: {', '.join(args.only)}; databases: {', '.join(args.backends)}."]
    if "postgresql" in args.backends:
        notes.append(vacuum_postgres_catalogs())
    for backend in args.backends:
        if "acks" in args.only:
            results["acks"][backend] = cases.case_acks(backend, sizes, memory[backend])
        if "click" in args.only:
            results["click"][backend] = cases.case_click(backend, sizes, memory[backend])
        if "intake" in args.only:
            results["intake"][backend] = cases.case_intake(backend, sizes, memory[backend])
        if "surge" in args.only:
            results["surge"][backend] = cases.case_surge(backend, sizes, memory[backend])
        if "emergency" in args.only:
            results["emergency"][backend] = cases.case_emergency(backend, sizes, memory[backend])
        if "startup" in args.only:
            cases.case_startup(backend, memory[backend])
    if "acks" in args.only:
        bare = cases.case_acks_bare(sizes, form=next(iter(results["acks"].values()))["form"])

    report = Report(sizes, args.quick, notes=notes)
    if results["acks"]:
        report.acks(results["acks"], bare)
    if results["click"]:
        report.click(results["click"])
    if results["intake"]:
        report.intake(results["intake"])
    if results["surge"]:
        report.surge(results["surge"])
    if results["emergency"]:
        report.emergency(results["emergency"])
    report.memory(memory)
    text = report.render(started, load_before, load_average(), busy_before, (speed_before, speed_check()))
    if FINDINGS.is_file():
        text += "\n" + FINDINGS.read_text(encoding="utf-8")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
