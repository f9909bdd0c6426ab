"""Runs the registered sweeps every few seconds, then wakes the dispatcher for what they enqueued."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.delivery import Dispatcher
from bot.workflows.sweeps import SWEEPS, SweepContext

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_SECONDS = 30.0


class Repeating:
    """`run` every `interval` seconds in a daemon thread of its own, until `stop`; `at_once`: first at start."""

    def __init__(self, name: str, interval: float, run: Callable[[], object], *, at_once: bool = False):
        self.name, self.interval, self.run, self.at_once = name, interval, run, at_once
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        def loop() -> None:
            if self.at_once:
                self.run()
            while not self._stopping.wait(self.interval):
                self.run()

        self._stopping.clear()
        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


class Sweeper:
    def __init__(self, context: SweepContext, dispatcher: Dispatcher, interval: float = DEFAULT_INTERVAL_SECONDS):
        self.context = context
        self.dispatcher = dispatcher
        self._repeating = Repeating("sweeper", interval, self.run_once)

    def run_once(self) -> dict[str, int]:
        """Every sweep once; one failing sweep does not stop the others. Returns what each did."""
        done: dict[str, int] = {}
        for name, func in sorted(SWEEPS.items()):
            try:
                done[name] = func(self.context)
            except Exception:
                log.exception("sweep %s failed; it runs again next round", name)
                done[name] = 0
        if any(done.values()):
            self.dispatcher.kick()
        return done

    def start(self) -> None:
        self._repeating.start()

    def stop(self) -> None:
        self._repeating.stop(timeout=30)
