"""Opening a modal within the trigger_id's 3 seconds, in the person's language."""

from __future__ import annotations

import copy
import logging
import weakref
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.app import Services
from bot.i18n import Translator

log = logging.getLogger(__name__)
_TRIGGER_CLIENTS: weakref.WeakKeyDictionary[WebClient, WebClient] = weakref.WeakKeyDictionary()


def trigger_client(client: WebClient) -> WebClient:
    """`client` without its rate-limit retry, for the calls that spend a trigger_id (`views.open`, `views.push`):
    sleeping out a 429's Retry-After and trying again could only try with a trigger that has expired (3 s). The
    429 reaches the error handler, which asks the person to try again. The same connections (a shallow copy)."""
    spender = _TRIGGER_CLIENTS.get(client)
    if spender is None:
        spender = copy.copy(client)
        spender.retry_handlers = [h for h in client.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)]
        _TRIGGER_CLIENTS[client] = spender
    return spender


def open_modal(services: Services, client: WebClient, trigger_id: str, user_id: str,
               build: Callable[[Translator], dict[str, Any]]) -> None:
    """Open at once in the language already known (the trigger_id lives 3 s and once: no Slack call before
    it); then learn the person's language, and if it differs, show the same modal in theirs."""
    known = services.cached_translator_for(user_id)
    opened = trigger_client(client).views_open(trigger_id=trigger_id, view=build(known))
    tr = services.translator_for(user_id)
    if tr.locale != known.locale:
        view = opened.get("view") or {}
        try:
            client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=build(tr))
        except SlackApiError as e:  # typed into meanwhile (hash_conflict), or closed (not_found): it stays as opened
            log.info("modal %s for %s stays in %s: %s", view.get("id"), user_id, known.locale,
                     e.response.get("error"))
