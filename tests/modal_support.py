"""Modals open within the trigger_id's 3 seconds: before Koho asks Slack anything else."""

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any


def opened_then_redrawn(koho: Any, user_id: str, locale: str, send: Callable[[], Any]) -> tuple[dict, dict]:
    """A person Koho has not met yet (Slack locale `locale`) does something that opens a modal. The
    modal is opened before the language look-up (users.info), then redrawn once in their language.
    Returns (the view opened, the view redrawn)."""
    koho.fake.users[user_id] = {"id": user_id, "locale": locale}
    send()
    (update,) = koho.fake.wait_for("views.update")
    methods = [c.method for c in koho.fake.calls if c.method != "auth.test"]
    assert methods.index("views.open") < methods.index("users.info")  # the trigger_id is used first
    (opened,) = koho.fake.calls_to("views.open")
    assert opened.args["view"]["callback_id"] == update.args["view"]["callback_id"]  # the same modal
    return opened.args["view"], update.args["view"]


def opened_before_asking(koho: Any, user_id: str, callback_id: str, send: Callable[[], Any]) -> dict:
    """What Slack said of everyone's language is over a week old, so a look-up (users.info) is due when
    `user_id` does something that opens a modal: the modal is opened first, the look-up after it.
    Returns the view opened."""
    settle(koho)  # messages already due are delivered (their readers' languages looked up) first
    koho.clock.advance(timedelta(days=8))
    sent_at = time.time()
    send()
    (opened,) = koho.fake.wait_for("views.open", predicate=lambda c: c.at >= sent_at
                                   and c.args["view"]["callback_id"] == callback_id)
    (asked,) = koho.fake.wait_for("users.info", predicate=lambda c: c.at >= sent_at and c.args.get("user") == user_id)
    assert opened.ok and opened.at < asked.at, "users.info was asked before the modal was opened"
    return opened.args["view"]


def settle(koho: Any, quiet: float = 0.3, timeout: float = 10.0) -> None:
    """Wait until Koho has nothing left to deliver and has asked Slack nothing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        koho.services.dispatcher.drain()
        before = len(koho.fake.calls)
        time.sleep(quiet)
        if len(koho.fake.calls) == before:
            return
    raise AssertionError(f"Koho kept calling Slack for {timeout} s")
