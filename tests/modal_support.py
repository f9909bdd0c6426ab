"""Modals open within the trigger_id's 3 seconds: before Koho asks Slack anything else."""

from collections.abc import Callable
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
