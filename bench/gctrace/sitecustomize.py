"""Logs every process's garbage-collector pauses, to see what the collector costs the bot.

    KOHO_GC_TRACE=/tmp/gc PYTHONPATH=bench/gctrace .venv/bin/python -m bench.run --only click --backends sqlite
    .venv/bin/python -m bench.gctrace /tmp/gc

Python imports `sitecustomize` at start-up from the path, so every process started with this
PYTHONPATH (the benchmark's, and the bot processes it starts) appends one line per collection to
`<KOHO_GC_TRACE>/gc_<pid>.log`; the first line is the process's command line. Not part of the bot.
"""

import gc
import os
import sys
import time

_directory = os.environ.get("KOHO_GC_TRACE")
if _directory:
    os.makedirs(_directory, exist_ok=True)
    _log = open(os.path.join(_directory, f"gc_{os.getpid()}.log"), "a", buffering=1)  # noqa: SIM115 - for the process's life
    _log.write(" ".join(sys.argv) + "\n")
    _started = [0.0]

    def _trace(phase: str, info: dict) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
        else:
            _log.write(f"{time.time():.3f} {info['generation']} {(time.perf_counter() - _started[0]) * 1000:.2f}\n")

    gc.callbacks.append(_trace)
