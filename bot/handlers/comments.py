"""Citizen comments in Slack: forward a message (shortcut) or type one in (/forward-comment), and the
department's buttons. The webhook intake is `bot.webhooks` (not Slack, so not Bolt).

Every click is authorised on the server (`CommentService` decides, from the clicking user's id); a
refusal is an ephemeral reply in the person's language, and is recorded. Buttons carry the version of
the comment the person saw, so a click on an outdated message changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.app import Services
from bot.handlers.comment_ids import CommentAction, CommentBlock, CommentCallback, CommentShortcut
from bot.handlers.ids import Command
from bot.handlers.modals import open_modal
from bot.i18n import Translator
from bot.text.categories import Category
from bot.text.mrkdwn import slack_to_plain
from bot.text.typed_input import ascii_int
from bot.views import comments as views
from bot.workflows.accounts.directory import account_exists
from bot.workflows.accounts.service import postable_accounts
from bot.workflows.comments.models import Comment
from bot.workflows.comments.rules import SOURCES, Action, HidingCriterion, row_actions
from bot.workflows.comments.service import CommentService, NewComment, Outcome, Result

log = logging.getLogger(__name__)
_HTTP_URL = re.compile(r"^https?://[^\s<>|]+$", re.IGNORECASE)
_COMMENT_NUMBER = re.compile(r"^[#＃]?\s*(\d{1,9})$")  # "#12", "12", "＃12"
# What asks for details in a modal before it happens (from a button, or from a listing's "…" menu).
_MODAL_ACTIONS = (Action.REASSIGN, Action.DONE, Action.NO_ACTION, Action.INTERIM_REPLY, Action.TRANSFER,
                  Action.DUPLICATE, Action.REOPEN, Action.REQUEST_HIDING)


# -- reading Slack payloads ------------------------------------------------------------------------

def _state(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return (view.get("state", {}).get("values", {}).get(block) or {}).get(action) or {}


def _text(view: dict[str, Any], block: str, action: str) -> str:
    return (_state(view, block, action).get("value") or "").strip()


def _selected(view: dict[str, Any], block: str, action: str) -> str | None:
    option = _state(view, block, action).get("selected_option")
    return option.get("value") if option else None


def _split(value: str, parts: int) -> list[str] | None:
    pieces = (value or "").split(":")
    return pieces if len(pieces) == parts else None


def _ids(pieces: list[str]) -> tuple[int, int] | None:
    """Two ids the bot wrote into a value ("12:3"), or None (ASCII digits only: "²" is no id)."""
    first, second = (ascii_int(p) for p in pieces)
    return (first, second) if first is not None and second is not None else None


def _id_and_version(value: str) -> tuple[int, int] | None:
    pieces = _split(value, 2)
    return None if pieces is None else _ids(pieces)


def _message_channel(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


class CommentHandlers:
    def __init__(self, services: Services):
        self.services = services
        self.org = services.org
        self.comments = CommentService(services.db, services.org, services.calendar, services.clock)

    # -- telling the person ----------------------------------------------------------------

    def tr(self, user_id: str) -> Translator:
        return self.services.translator_for(user_id)

    def explain(self, tr: Translator, result: Result) -> str | None:
        """What to tell the person when an action did not go ahead (None: it did)."""
        comment_id = result.comment_id
        status = views.status_label(tr, result.status) if result.status else ""
        if result.outcome is Outcome.REFUSED:
            if result.detail.get("original"):
                return tr.t("comments.reply.refused_original", id=comment_id)
            if result.detail.get("reason") == "own_request":
                return tr.t("comments.reply.refused_own")
            if result.detail.get("on_call"):
                return tr.t("comments.reply.refused_on_call", id=comment_id,
                            department=views.department_name(self.org, result.detail.get("department_id")))
            if result.detail.get("pr_only"):
                return tr.t("comments.reply.refused_pr")
            return tr.t("comments.reply.refused", id=comment_id,
                        department=views.department_name(self.org, result.detail.get("department_id")))
        if result.outcome is Outcome.STALE:
            if result.detail.get("already_requested"):
                return tr.t("comments.reply.already_requested", id=comment_id)
            return tr.t("comments.reply.stale", id=comment_id, status=status)
        if result.outcome is Outcome.NOT_FOUND:
            return tr.t("comments.reply.not_found")
        if result.outcome is Outcome.INVALID and result.detail.get("same"):
            return tr.t("comments.reply.same_department", id=comment_id,
                        department=views.department_name(self.org, result.detail.get("department_id")))
        if result.outcome is Outcome.INVALID:
            return tr.t("comments.error.department_required")
        return None

    @staticmethod
    def not_an_original(tr: Translator, result: Result) -> str:
        """Why the number given cannot be the original of a duplicate."""
        detail = result.detail
        if detail.get("self"):
            return tr.plain("comments.error.original_self")
        if detail.get("original_of") is not None:
            return tr.plain("comments.error.original_is_duplicate", id=detail["original"],
                            original=detail["original_of"])
        return tr.plain("comments.error.original_not_found", id=detail["original"])

    def answer(self, client: WebClient, body: dict[str, Any], result: Result) -> None:
        """After a click: Slack hears of a change through the outbox; a refusal is told to the clicker."""
        if result.ok:
            self.services.notify()
            return
        user_id = body["user"]["id"]
        text = self.explain(self.tr(user_id), result)
        channel = _message_channel(body)
        if text is None or channel is None:
            return
        try:
            client.chat_postEphemeral(channel=channel, user=user_id, text=text)
        except SlackApiError as e:
            log.warning("could not tell %s why nothing changed: %s", user_id, e.response.get("error"))

    # -- intake from Slack -----------------------------------------------------------------

    def open_forward_from_message(self, ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = shortcut["user"]["id"]
        channel, ts = shortcut["channel"]["id"], shortcut["message_ts"]
        slack_ref = f"{channel}:{ts}"
        existing = self.comments.find_forwarded(slack_ref)
        if existing is not None:
            open_modal(self.services, client, shortcut["trigger_id"], user_id,
                       lambda tr: views.already_forwarded_modal(tr, self.org, existing))
            return
        text = slack_to_plain(shortcut.get("message", {}).get("text") or "")
        metadata = {"origin": "shortcut", "ref": slack_ref, "ts": ts}
        accounts = postable_accounts(self.services.db, self.org)
        open_modal(self.services, client, shortcut["trigger_id"], user_id,
                   lambda tr: views.forward_modal(tr, self.org, text=text, metadata=metadata,
                                                  accounts=accounts))

    def open_forward_empty(self, ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        text, metadata = slack_to_plain(command.get("text") or ""), {"origin": "command"}
        accounts = postable_accounts(self.services.db, self.org)
        open_modal(self.services, client, command["trigger_id"], command["user_id"],
                   lambda tr: views.forward_modal(tr, self.org, text=text, metadata=metadata,
                                                  accounts=accounts))

    def forward_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Validate, store (before the ack, so a failure shows in the modal and nothing typed is lost), answer."""
        user_id = body["user"]["id"]
        tr = self.services.answering_translator_for(user_id)  # before the ack: no Slack call if known
        text = _text(view, CommentBlock.TEXT, CommentAction.TEXT)
        source = _selected(view, CommentBlock.SOURCE, CommentAction.SOURCE)
        url = _text(view, CommentBlock.URL, CommentAction.URL) or None
        account = _selected(view, CommentBlock.ACCOUNT, CommentAction.ACCOUNT)
        department = _selected(view, CommentBlock.DEPARTMENT, CommentAction.DEPARTMENT)
        category = _selected(view, CommentBlock.CATEGORY, CommentAction.CATEGORY_INPUT)
        errors = {}
        if not text:
            errors[CommentBlock.TEXT] = tr.plain("comments.error.text_required")
        if source not in SOURCES:
            errors[CommentBlock.SOURCE] = tr.plain("comments.modal.source_placeholder")
        if url and not _HTTP_URL.match(url):
            errors[CommentBlock.URL] = tr.plain("comments.error.url_invalid")
        if errors:
            ack(response_action="errors", errors={str(k): v for k, v in errors.items()})
            return
        metadata = json.loads(view.get("private_metadata") or "{}")
        slack_ref = metadata.get("ref")
        received_at = self.services.clock.now()
        if metadata.get("ts"):
            received_at = datetime.fromtimestamp(float(metadata["ts"]), UTC)
        received = self.comments.receive(NewComment(
            origin=metadata.get("origin", "command"), source=source, text=text, received_at=received_at,
            external_id=f"slack:{slack_ref}" if slack_ref else f"slack-view:{view['id']}",
            url=url, account_id=account if account and account_exists(self.services.db, self.org, account) else None,
            forwarded_by=user_id, slack_ref=slack_ref,
            department_id=department if department and self.org.department(department) else None,
            category=Category(category) if category in set(Category) else None,
        ))
        if not received.created:
            existing = self.comments.get(received.comment_id)
            ack(response_action="update", view=views.already_forwarded_modal(tr, self.org, existing))
            return
        ack(response_action="update", view=views.forwarded_modal(
            tr, self.org, comment_id=received.comment_id, department_id=received.department_id,
            channel=received.channel, emergency=received.category == Category.EMERGENCY))
        self.services.notify()

    # -- the department's buttons ----------------------------------------------------------

    def on_simple(self, kind: Action):  # noqa: ANN201 - a Bolt listener
        def listener(ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
            ack()
            parsed = _id_and_version(action.get("value", ""))
            if parsed is not None:
                self.run_simple(client, body, kind, *parsed)

        return listener

    def run_simple(self, client: WebClient, body: dict[str, Any], action: Action, comment_id: int,
                   version: int) -> None:
        user_id = body["user"]["id"]
        if action is Action.ACKNOWLEDGE:
            result = self.comments.acknowledge(comment_id, user_id, version)
        else:
            result = self.comments.no_action(comment_id, user_id, version)
        self.answer(client, body, result)

    def on_modal_action(self, kind: Action):  # noqa: ANN201 - a Bolt listener
        def listener(ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
            ack()
            parsed = _id_and_version(action.get("value", ""))
            if parsed is not None:
                self.open_action_modal(client, body, kind, *parsed)

        return listener

    def open_action_modal(self, client: WebClient, body: dict[str, Any], action: Action, comment_id: int,
                          version: int) -> None:
        """Every step but acknowledging asks for details: check first, then open the modal with the trigger."""
        user_id = body["user"]["id"]
        result = self.comments.check(comment_id, user_id, action, version)
        if not result.ok:
            self.answer(client, body, result)
            return
        comment = self.comments.get(comment_id)
        open_modal(self.services, client, body["trigger_id"], user_id, lambda tr: self.action_modal(tr, action, comment))

    def action_modal(self, tr: Translator, action: Action, comment: Comment) -> dict[str, Any]:
        """The modal asking for a step's details."""
        return {Action.REASSIGN: lambda: views.reassign_modal(tr, self.org, comment),
                Action.DONE: lambda: views.done_modal(tr, comment),
                Action.NO_ACTION: lambda: views.no_action_modal(tr, comment),
                Action.INTERIM_REPLY: lambda: views.interim_modal(tr, comment),
                Action.TRANSFER: lambda: views.transfer_modal(tr, comment),
                Action.DUPLICATE: lambda: views.duplicate_modal(tr, comment),
                Action.REOPEN: lambda: views.reopen_modal(tr, comment),
                Action.REQUEST_HIDING: lambda: views.hiding_modal(tr, comment)}[action]()

    def open_more_actions(self, client: WebClient, body: dict[str, Any], comment_id: int, version: int) -> None:
        """The menu's last item: the actions it had no room for, those this person may take, in a modal."""
        user_id = body["user"]["id"]
        comment, available = self.comments.with_actions(comment_id)
        if comment is None or comment.row_version != version:
            self.answer(client, body, Result(Outcome.STALE if comment else Outcome.NOT_FOUND, comment_id,
                                             comment.status if comment else None))
            return
        more = row_actions(available)[1]
        allowed = [a for a in more if self.comments.may_act(user_id, comment, a)]
        if not allowed:  # refused (and recorded) as any of them would be
            self.answer(client, body, self.comments.check(comment_id, user_id, more[0], version) if more else
                        Result(Outcome.STALE, comment_id, comment.status))
            return
        open_modal(self.services, client, body["trigger_id"], user_id,
                   lambda tr: views.more_actions_modal(tr, comment, allowed))

    def more_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The action chosen in the "more" modal: checked, then its own modal takes the place of this one."""
        user_id = body["user"]["id"]
        tr = self.services.answering_translator_for(user_id)  # before the ack: no Slack call if known
        metadata = json.loads(view.get("private_metadata") or "{}")
        comment_id, version = int(metadata["comment_id"]), int(metadata["version"])
        chosen = _selected(view, CommentBlock.MORE, CommentAction.MORE)
        if chosen not in set(_MODAL_ACTIONS):
            ack(response_action="errors", errors={str(CommentBlock.MORE): tr.plain("comments.error.action_required")})
            return
        result = self.comments.check(comment_id, user_id, Action(chosen), version)
        if not result.ok:
            ack(response_action="errors", errors={str(CommentBlock.MORE): self.refusal_in_modal(tr, result)})
            return
        ack(response_action="update", view=self.action_modal(tr, Action(chosen), self.comments.get(comment_id)))

    def on_row_menu(self, ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
        """The "…" menu of a comment in a digest, reminder or escalation: the same actions as its buttons.
        Only acknowledging happens at once: 対応不要 too asks in a modal, so one mis-tap closes nothing."""
        ack()
        pieces = _split((action.get("selected_option") or {}).get("value", ""), 3)
        if pieces is not None and pieces[0] == views.MORE_ACTIONS and (ids := _ids(pieces[1:])):
            self.open_more_actions(client, body, *ids)
            return
        if pieces is None or pieces[0] not in set(Action) or not (ids := _ids(pieces[1:])):
            return
        chosen, (comment_id, version) = Action(pieces[0]), ids
        if chosen is Action.ACKNOWLEDGE:
            self.run_simple(client, body, chosen, comment_id, version)
        elif chosen in _MODAL_ACTIONS:
            self.open_action_modal(client, body, chosen, comment_id, version)

    def on_triage(self, ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
        ack()
        pieces = _split((action.get("selected_option") or {}).get("value", ""), 3)
        if pieces is None or not (ids := _ids(pieces[:2])):
            return
        result = self.comments.reassign(ids[0], body["user"]["id"], ids[1], pieces[2])
        self.answer(client, body, result)

    def on_category(self, ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
        ack()
        pieces = _split((action.get("selected_option") or {}).get("value", ""), 3)
        if pieces is None or not (ids := _ids(pieces[:2])) or pieces[2] not in set(Category):
            return
        result = self.comments.change_category(ids[0], body["user"]["id"], ids[1], Category(pieces[2]))
        self.answer(client, body, result)

    def on_hiding_decision(self, confirm: bool):  # noqa: ANN201 - a Bolt listener
        def listener(ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
            ack()
            parsed = _id_and_version(action.get("value", ""))
            if parsed is None:
                return
            result = self.comments.decide_hiding(parsed[0], body["user"]["id"], parsed[1], confirm=confirm)
            self.answer(client, body, result)

        return listener

    def on_show_original(self, ack: Ack, body: dict[str, Any], client: WebClient, action: dict[str, Any]) -> None:
        """原文を表示: the unmasked comment, in an ephemeral message to the clicker alone (or a refusal)."""
        ack()
        comment_id = ascii_int(action.get("value", ""))
        if comment_id is None:
            return
        result = self.comments.show_original(comment_id, body["user"]["id"])
        if not result.ok:
            self.answer(client, body, result)
            return
        user_id, channel = body["user"]["id"], _message_channel(body)
        if channel is None:
            return
        message = views.original_message(self.tr(user_id), result.comment_id, result.detail)
        try:
            client.chat_postEphemeral(channel=channel, user=user_id, **message)
        except SlackApiError as e:
            log.warning("could not show comment %s's original to %s: %s", result.comment_id, user_id,
                        e.response.get("error"))

    # -- the modals' submissions -----------------------------------------------------------

    def _submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any], error_block: str,
                   run: Any) -> None:
        """Run the use case before the ack, so a refusal or a lost race shows in the modal."""
        user_id = body["user"]["id"]
        tr = self.services.answering_translator_for(user_id)  # before the ack: no Slack call if known
        metadata = json.loads(view.get("private_metadata") or "{}")
        result: Result = run(int(metadata["comment_id"]), user_id, int(metadata["version"]), tr)
        if isinstance(result, dict):  # field errors found before running
            ack(response_action="errors", errors=result)
            return
        if result.ok:
            ack()
            self.services.notify()
            return
        if result.outcome is Outcome.INVALID and "original" in result.detail:
            error_block, message = CommentBlock.ORIGINAL, self.not_an_original(tr, result)
        elif result.outcome is Outcome.INVALID:
            error_block = CommentBlock.DEPARTMENT
            message = (tr.plain("comments.error.same_department",
                                department=views.department_name(self.org, result.detail.get("department_id")))
                       if result.detail.get("same") else tr.plain("comments.error.department_required"))
        else:
            message = self.refusal_in_modal(tr, result)
        ack(response_action="errors", errors={str(error_block): message})

    def refusal_in_modal(self, tr: Translator, result: Result) -> str:
        """Why a step did not go ahead, under a modal's field."""
        if result.outcome is Outcome.STALE and not result.detail.get("already_requested"):
            return tr.plain("comments.error.stale_modal", status=views.status_label(tr, result.status or ""))
        return self.explain(tr, result) or ""

    def note_required(self, error_key: str, use_case: Callable[[int, str, int, str], Result]):  # noqa: ANN201
        """The submission of a step whose note is required (done, interim reply, reopen): `use_case(comment,
        user, version, note)`; an empty note is `error_key` under the field."""
        def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
            def run(comment_id: int, user_id: str, version: int, tr: Translator) -> Any:
                note = _text(view, CommentBlock.NOTE, CommentAction.NOTE)
                if not note:
                    return {str(CommentBlock.NOTE): tr.plain(error_key)}
                return use_case(comment_id, user_id, version, note)

            self._submitted(ack, body, view, CommentBlock.NOTE, run)

        return listener

    def no_action_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(comment_id: int, user_id: str, version: int, tr: Translator) -> Any:
            note = _text(view, CommentBlock.NOTE, CommentAction.NOTE)
            return self.comments.no_action(comment_id, user_id, version, note)

        self._submitted(ack, body, view, CommentBlock.NOTE, run)

    def transfer_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(comment_id: int, user_id: str, version: int, tr: Translator) -> Any:
            destination = _text(view, CommentBlock.DESTINATION, CommentAction.DESTINATION)
            note = _text(view, CommentBlock.NOTE, CommentAction.NOTE)
            errors = {}
            if not destination:
                errors[str(CommentBlock.DESTINATION)] = tr.plain("comments.error.destination_required")
            if not note:
                errors[str(CommentBlock.NOTE)] = tr.plain("comments.error.transfer_note_required")
            return errors or self.comments.transfer(comment_id, user_id, version, destination, note)

        self._submitted(ack, body, view, CommentBlock.DESTINATION, run)

    def duplicate_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(comment_id: int, user_id: str, version: int, tr: Translator) -> Any:
            number = _COMMENT_NUMBER.match(_text(view, CommentBlock.ORIGINAL, CommentAction.ORIGINAL))
            if number is None:
                return {str(CommentBlock.ORIGINAL): tr.plain("comments.error.original_required")}
            note = _text(view, CommentBlock.NOTE, CommentAction.NOTE) or None
            return self.comments.mark_duplicate(comment_id, user_id, version, int(number.group(1)), note)

        self._submitted(ack, body, view, CommentBlock.ORIGINAL, run)

    def reassign_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(comment_id: int, user_id: str, version: int, tr: Translator) -> Any:
            department = _selected(view, CommentBlock.DEPARTMENT, CommentAction.DEPARTMENT)
            if not department or self.org.department(department) is None:
                return {str(CommentBlock.DEPARTMENT): tr.plain("comments.error.department_required")}
            note = _text(view, CommentBlock.NOTE, CommentAction.NOTE) or None
            return self.comments.reassign(comment_id, user_id, version, department, note)

        self._submitted(ack, body, view, CommentBlock.DEPARTMENT, run)

    def hiding_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(comment_id: int, user_id: str, version: int, tr: Translator) -> Any:
            criterion = _selected(view, CommentBlock.CRITERION, CommentAction.CRITERION)
            if criterion not in set(HidingCriterion):
                return {str(CommentBlock.CRITERION): tr.plain("comments.error.criterion_required")}
            note = _text(view, CommentBlock.NOTE, CommentAction.NOTE) or None
            return self.comments.request_hiding(comment_id, user_id, version, HidingCriterion(criterion), note)

        self._submitted(ack, body, view, CommentBlock.CRITERION, run)


def register(app: App, services: Services) -> None:
    handlers = CommentHandlers(services)
    app.shortcut(CommentShortcut.FORWARD_MESSAGE)(handlers.open_forward_from_message)
    app.command(Command.FORWARD_COMMENT)(handlers.open_forward_empty)
    app.view(CommentCallback.FORWARD)(handlers.forward_submitted)
    app.view(CommentCallback.DONE)(handlers.note_required("comments.error.note_required", handlers.comments.done))
    app.view(CommentCallback.REASSIGN)(handlers.reassign_submitted)
    app.view(CommentCallback.REQUEST_HIDING)(handlers.hiding_submitted)
    app.view(CommentCallback.NO_ACTION)(handlers.no_action_submitted)
    app.view(CommentCallback.INTERIM_REPLY)(handlers.note_required("comments.error.interim_required",
                                                                    handlers.comments.interim_reply))
    app.view(CommentCallback.TRANSFER)(handlers.transfer_submitted)
    app.view(CommentCallback.DUPLICATE)(handlers.duplicate_submitted)
    app.view(CommentCallback.MORE)(handlers.more_submitted)
    app.view(CommentCallback.REOPEN)(handlers.note_required("comments.error.reason_required",
                                                             handlers.comments.reopen))

    app.action(CommentAction.ACKNOWLEDGE)(handlers.on_simple(Action.ACKNOWLEDGE))
    app.action(CommentAction.NO_ACTION)(handlers.on_simple(Action.NO_ACTION))
    app.action(CommentAction.REASSIGN)(handlers.on_modal_action(Action.REASSIGN))
    app.action(CommentAction.DONE)(handlers.on_modal_action(Action.DONE))
    app.action(CommentAction.REQUEST_HIDING)(handlers.on_modal_action(Action.REQUEST_HIDING))
    app.action(CommentAction.INTERIM_REPLY)(handlers.on_modal_action(Action.INTERIM_REPLY))
    app.action(CommentAction.TRANSFER)(handlers.on_modal_action(Action.TRANSFER))
    app.action(CommentAction.DUPLICATE)(handlers.on_modal_action(Action.DUPLICATE))
    app.action(CommentAction.REOPEN)(handlers.on_modal_action(Action.REOPEN))
    app.action(CommentAction.ROW_MENU)(handlers.on_row_menu)
    app.action(CommentAction.TRIAGE)(handlers.on_triage)
    app.action(CommentAction.CATEGORY)(handlers.on_category)
    app.action(CommentAction.CONFIRM_HIDING)(handlers.on_hiding_decision(confirm=True))
    app.action(CommentAction.DECLINE_HIDING)(handlers.on_hiding_decision(confirm=False))
    app.action(CommentAction.SHOW_ORIGINAL)(handlers.on_show_original)

