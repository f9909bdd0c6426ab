"""Summarise the collector pauses `bench/gctrace/sitecustomize.py` logged: per process and generation,
leaving out each process's first seconds (its start-up: importing, building the app)."""

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", help="the KOHO_GC_TRACE directory of the run")
    parser.add_argument("--skip", type=float, default=2.0, help="seconds of start-up left out (default 2)")
    args = parser.parse_args()
    for path in sorted(Path(args.directory).glob("gc_*.log")):
        command, *lines = path.read_text().splitlines()
        if not lines:
            continue
        first = float(lines[0].split()[0])
        pauses: dict[str, list[float]] = {}
        for line in lines:
            at, generation, ms = line.split()
            if float(at) - first >= args.skip:
                pauses.setdefault(generation, []).append(float(ms))
        print(f"{path.name}: {command}")
        for generation, values in sorted(pauses.items()):
            values.sort()
            print(f"  generation {generation}: {len(values)} collections, {sum(values):.0f} ms in all, median "
                  f"{values[len(values) // 2]:.2f} ms, longest {', '.join(f'{v:.1f}' for v in values[-3:][::-1])} ms")


if __name__ == "__main__":
    main()
