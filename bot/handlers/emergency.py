"""Slack adapters of the emergency flow: /emergency [status|end], the modals, the checklist's buttons,
post drafts from templates, and the review of held posts. Every click is authorised in the service."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.app import Services
from bot.handlers.emergency_ids import (
    MODE_DRILL,
    MODE_REAL,
    EmergencyAction,
    EmergencyBlock,
    EmergencyCallback,
)
from bot.handlers.errors import readable_values
from bot.handlers.ids import Command
from bot.handlers.modals import open_modal
from bot.i18n import Translator
from bot.organization import PR_OFFICE_ID
from bot.text.typed_input import ascii_int, command_word, typed_number
from bot.views import RenderContext
from bot.views.emergency import (
    declare_modal,
    emergency_name,
    end_modal,
    mentions,
    note_modal,
    offer_message,
    parse_draft_value,
    post_title,
    resume_modal,
    status_message,
)
from bot.views.proposal_form import FormPrefill, default_department, proposal_form
from bot.workflows.accounts.service import postable_accounts
from bot.workflows.emergencies.models import Emergency
from bot.workflows.emergencies.rules import Declaration, may_declare, validate
from bot.workflows.emergencies.service import (
    UNSEEN,
    EmergencyError,
    EmergencyService,
    Outcome,
    active_emergencies,
    status_report,
)
from bot.workflows.proposals.rules import Kind

log = logging.getLogger(__name__)

FIELD_BLOCKS = {
    "type": EmergencyBlock.TYPE, "title": EmergencyBlock.TITLE, "areas": EmergencyBlock.AREAS,
    "situation": EmergencyBlock.SITUATION, "mode": EmergencyBlock.MODE, "interval": EmergencyBlock.INTERVAL,
}
STATUS_WORDS = ("status", "状況")
END_WORDS = ("end", "終了")
DECLARE_WORDS = ("", "declare", "宣言")


def register(app: App, services: Services) -> None:
    emergencies = EmergencyService(services.db, services.org, services.clock)
    org = services.org

    def context(session: Any, user_id: str, tr: Translator) -> RenderContext:
        """`tr` is looked up before the session opens: it may ask Slack (users.info), which must not hold a
        database session (and on SQLite its lock) for up to its timeout."""
        return RenderContext(session=session, tr=tr, org=org, now=services.clock.now(),
                             recipient=user_id, workspace_url=services.dispatcher.workspace_url)

    def explain(tr: Translator, key: str, values: dict[str, Any] | None = None, *, plain: bool = False) -> str:
        """A refusal in the person's language: who did it and when, in the reader's words."""
        shown: dict[str, Any] = {"on_call": mentions(org.on_call_now()), **readable_values(tr, values or {})}
        return tr.plain(key, **shown) if plain else tr.t(key, **shown)

    def tell(respond: Respond, user_id: str, outcome: Outcome) -> None:
        """A success shows in the message itself; anything else is told to the clicker alone."""
        if outcome.result == "done":
            return
        tr = services.translator_for(user_id)
        respond(text=explain(tr, outcome.key or "emergency.error.not_found", outcome.values),
                response_type="ephemeral", replace_original=False)

    def attempt(respond: Respond, user_id: str, work: Any) -> Outcome:
        """Run one click's use case; whatever it says (done, refused, lost a race) is told as it should be."""
        try:
            outcome = work()
        except EmergencyError as e:
            outcome = Outcome("refused", e.key, dict(e.values))
        services.notify()
        tell(respond, user_id, outcome)
        return outcome

    def say(respond: Respond, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    def answer_status(respond: Respond, user_id: str, emergency_id: int | None) -> None:
        tr = services.translator_for(user_id)  # (Slack calls happen outside the session: before or after it)
        with services.db.read() as session:
            ctx = context(session, user_id, tr)
            if emergency_id is None:
                chosen = active_emergencies(session)
            else:
                found = session.get(Emergency, emergency_id)
                chosen = [found] if found else []
            missing = emergency_id is not None and not chosen
            message = None if missing else status_message(ctx, [status_report(session, e) for e in chosen])
        if message is None:
            say(respond, tr.t("emergency.error.not_found"))
            return
        say(respond, message["text"], message["blocks"])

    # -- /emergency -----------------------------------------------------------------------------------

    @app.command(Command.EMERGENCY)
    def emergency_command(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()  # the trigger_id lives 3 s: the modal opens right after a quick look at the database
        user_id = command["user_id"]
        words = (command.get("text") or "").split()
        sub = command_word(words[0]) if words else ""  # ｓｔａｔｕｓ ＃３ from a Japanese IME reads as status #3
        number = typed_number(words[1]) if len(words) > 1 else None
        if len(words) > 1 and number is None and sub in STATUS_WORDS + END_WORDS:
            # Not a number (＃三, 3a): the usage, never some other emergency's status or end
            say(respond, services.translator_for(user_id).t("emergency.command.usage"))
        elif sub in STATUS_WORDS:
            answer_status(respond, user_id, number)
        elif sub in END_WORDS:
            open_end(client, respond, command["trigger_id"], user_id, number)
        elif sub in DECLARE_WORDS:
            if not may_declare(user_id, org):
                emergencies.refuse(user_id, "declare")
                say(respond, explain(services.translator_for(user_id), "emergency.refused.not_on_call"))
                return
            active = emergencies.active()
            if active:  # offer its status first: a second declaration of one earthquake splits the team
                tr = services.translator_for(user_id)
                with services.db.read() as session:
                    message = offer_message(context(session, user_id, tr), active)
                say(respond, message["text"], message["blocks"])
                return
            open_modal(services, client, command["trigger_id"], user_id, lambda tr: declare_modal(tr, org, known=[]))
        else:
            say(respond, services.translator_for(user_id).t("emergency.command.usage"))

    @app.action(EmergencyAction.DECLARE_ANYWAY)
    def declare_anyway(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        if not may_declare(user_id, org):
            emergencies.refuse(user_id, "declare")
            say(respond, explain(services.translator_for(user_id), "emergency.refused.not_on_call"))
            return
        known = [e.id for e in emergencies.active()]
        open_modal(services, client, body["trigger_id"], user_id, lambda tr: declare_modal(tr, org, known=known))

    @app.view(EmergencyCallback.DECLARE)
    def submit_declaration(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        declaration = parse_declaration(view)
        problems = validate(declaration)
        if problems:
            errors: dict[str, str] = {}
            for p in problems:
                errors.setdefault(FIELD_BLOCKS[p.field], tr.plain(p.key, **p.values))
            ack(response_action="errors", errors=errors)
            return
        if may_declare(user_id, org):
            known = set(_metadata(view).get("known") or [])
            newer = [e for e in emergencies.active() if e.id not in known]
            if newer:  # a colleague declared one while this modal was open: show it, then let them decide
                names = "、".join if tr.locale == "ja" else ", ".join
                listed = names(tr.plain("emergency.end_modal.option", **emergency_name(tr, e)) for e in newer)
                warning = tr.t("emergency.form.duplicate_warning", list=listed)
                ack(response_action="update", view=declare_modal(
                    tr, org, known=sorted(known | {e.id for e in newer}), warning=warning))
                return
        try:
            emergencies.declare(user_id, declaration)
        except EmergencyError as e:
            ack(response_action="errors", errors={EmergencyBlock.TITLE: explain(tr, e.key, e.values, plain=True)})
            return
        ack()
        services.notify()

    # -- the checklist --------------------------------------------------------------------------------

    @app.action(EmergencyAction.STEP_DONE)
    def step_done(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        attempt(respond, user_id, lambda: emergencies.tick(user_id, int(action["value"])))

    @app.action(EmergencyAction.STEP_REOPEN)
    def step_reopen(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        attempt(respond, user_id, lambda: emergencies.reopen(user_id, int(action["value"])))

    @app.action(EmergencyAction.STEP_ASSIGN)
    def step_assign(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        step_id = _id_after_colon(action.get("block_id"))
        assignee = action.get("selected_user")
        if step_id is None or not assignee:
            return
        seen = _assignee_shown(body.get("message"), action.get("block_id"))
        attempt(respond, user_id, lambda: emergencies.assign(user_id, step_id, assignee, seen=seen))

    @app.action(EmergencyAction.STEP_NOTE)
    def step_note(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                  respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        try:
            refusal, step = emergencies.open_note(user_id, int(action["value"]))
        except EmergencyError as e:
            refusal = Outcome("refused", e.key, dict(e.values))
        if refusal is not None:
            services.notify()
            tell(respond, user_id, refusal)
            return
        open_modal(services, client, body["trigger_id"], user_id, lambda tr: note_modal(tr, step))

    @app.view(EmergencyCallback.NOTE)
    def submit_note(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        text = _value(view, EmergencyBlock.NOTE) or ""
        try:
            outcome = emergencies.add_note(user_id, int(_metadata(view)["step_id"]), text)
        except EmergencyError as e:
            ack(response_action="errors", errors={EmergencyBlock.NOTE: explain(tr, e.key, e.values, plain=True)})
            return
        if outcome.result != "done":
            ack(response_action="errors",
                errors={EmergencyBlock.NOTE: explain(tr, outcome.key or "", outcome.values, plain=True)})
            return
        ack()
        services.notify()

    # -- drafting a post from a template --------------------------------------------------------------

    def draft(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        value = (action.get("selected_option") or {}).get("value") or action.get("value") or ""
        parsed = parse_draft_value(value)
        if parsed is None:
            return
        emergency_id, template, locale = parsed
        try:
            text, active = emergencies.draft(emergency_id, template, locale)
        except EmergencyError as e:
            say(respond, explain(services.translator_for(user_id), e.key, e.values))
            return
        if not active:
            tell(respond, user_id, emergencies.ended_outcome(emergency_id))
            return
        accounts = postable_accounts(services.db, org)
        # The city's main accounts, as the register has them (one withdrawn is not among them; one opened in Slack is).
        main_accounts = [a.id for a in accounts if a.department_id == PR_OFFICE_ID]
        prefill = FormPrefill(text=text, kind=Kind.EMERGENCY, department_id=default_department(org, user_id, Kind.EMERGENCY),
                              accounts=main_accounts)
        # The normal proposal submission takes it from here (fast track while a real emergency is active).
        open_modal(services, client, body["trigger_id"], user_id, lambda tr: proposal_form(
            tr, org, prefill, metadata={"mode": "new", "emergency": emergency_id}, accounts=accounts))

    app.action(EmergencyAction.DRAFT)(draft)
    app.action(EmergencyAction.DRAFT_BUTTON)(draft)

    # -- status and end -------------------------------------------------------------------------------

    @app.action(EmergencyAction.STATUS)
    def status_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        answer_status(respond, body["user"]["id"], int(action["value"]))

    def open_end(client: WebClient, respond: Respond, trigger_id: str, user_id: str, chosen: int | None) -> None:
        # No Slack call before the modal opens (the trigger_id's 3 s): the person's language is asked only to refuse.
        refusal = emergencies.check_may_end(user_id)
        if refusal:
            say(respond, explain(services.translator_for(user_id), refusal))
            return
        active = emergencies.active()
        if not active:
            say(respond, services.translator_for(user_id).t("emergency.refused.no_active"))
            return
        if chosen is not None and chosen not in {e.id for e in active}:
            tell(respond, user_id, emergencies.ended_outcome(chosen))
            return
        open_steps = {e.id: sum(1 for s in e.steps if s.status != "done") for e in active}
        open_modal(services, client, trigger_id, user_id,
                   lambda tr: end_modal(tr, active, chosen=chosen, open_steps=open_steps))

    @app.action(EmergencyAction.END)
    def end_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                   respond: Respond) -> None:
        ack()
        open_end(client, respond, body["trigger_id"], body["user"]["id"], int(action["value"]))

    @app.view(EmergencyCallback.END)
    def submit_end(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        chosen = _metadata(view).get("emergency_id") or _value(view, EmergencyBlock.WHICH)
        if not chosen:
            ack(response_action="errors", errors={EmergencyBlock.WHICH: tr.plain("emergency.error.which_required")})
            return
        try:
            emergencies.end(user_id, int(chosen), _value(view, EmergencyBlock.CLOSING_NOTE))
        except EmergencyError as e:
            ack(response_action="errors",
                errors={EmergencyBlock.CLOSING_NOTE: explain(tr, e.key, e.values, plain=True)})
            return
        ack()
        services.notify()

    # -- held posts, after the end --------------------------------------------------------------------

    @app.action(EmergencyAction.RESUME)
    def resume(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user_id, held_id = body["user"]["id"], int(action["value"])
        try:
            outcome = emergencies.resume(user_id, held_id)
        except EmergencyError as e:
            outcome = Outcome("refused", e.key, dict(e.values))
        if outcome.result == "needs_time":  # its time has passed: ask for a new one
            title, due = post_title(outcome.values["text"]), outcome.values["due"]
            open_modal(services, client, body["trigger_id"], user_id,
                       lambda tr: resume_modal(tr, held_id, title, due))
            return
        services.notify()
        tell(respond, user_id, outcome)

    @app.view(EmergencyCallback.RESUME)
    def submit_resume(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        publish_at = _value(view, EmergencyBlock.PUBLISH_AT)
        if publish_at is None:
            ack(response_action="errors",
                errors={EmergencyBlock.PUBLISH_AT: tr.plain("emergency.error.publish_at_required")})
            return
        try:
            outcome = emergencies.resume(user_id, int(_metadata(view)["held_id"]), publish_at)
        except EmergencyError as e:
            outcome = Outcome("refused", e.key, dict(e.values))
        if outcome.result != "done":
            ack(response_action="errors",
                errors={EmergencyBlock.PUBLISH_AT: explain(tr, outcome.key or "", outcome.values, plain=True)})
            return
        ack()
        services.notify()

    @app.action(EmergencyAction.CANCEL_HELD)
    def cancel_held(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()  # Slack's own confirm dialog ("取り消しますか？") came before this click
        user_id = body["user"]["id"]
        attempt(respond, user_id, lambda: emergencies.cancel(user_id, int(action["value"])))

    @app.action(EmergencyAction.OPEN_LINK)
    def open_link(ack: Ack) -> None:
        ack()

    # -- who is on call ---------------------------------------------------------------------------------

    @app.event("subteam_members_changed")
    def user_group_changed(event: dict[str, Any]) -> None:
        """Slack says a user group's members changed (Bolt has answered): the on-call group's are asked for
        at once (bot/on_call_group.py). Slack tells of every group the bot may read; the others are not ours."""
        sync = services.on_call_sync
        if sync is not None and event.get("subteam_id") == sync.group_id:
            sync.run_once()


# -- parsing --------------------------------------------------------------------------------------------


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _value(view: dict[str, Any], block_id: str) -> Any:
    values = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    state = next(iter(values.values()), {}) if isinstance(values, dict) else {}
    kind = state.get("type")
    if kind == "plain_text_input":
        return state.get("value")
    if kind in ("static_select", "radio_buttons"):
        return (state.get("selected_option") or {}).get("value")
    if kind == "datetimepicker":
        stamp = state.get("selected_date_time")
        seconds = ascii_int(stamp)
        return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None
    return None


def _assignee_shown(message: dict[str, Any] | None, block_id: str | None) -> str | None | object:
    """The assignee the person saw in the message's menu (None: nobody), or UNSEEN without the message."""
    for block in (message or {}).get("blocks") or []:
        if block.get("block_id") == block_id:
            for element in block.get("elements") or []:
                if element.get("action_id") == EmergencyAction.STEP_ASSIGN:
                    return element.get("initial_user")
    return UNSEEN


def _id_after_colon(block_id: str | None) -> int | None:
    return ascii_int((block_id or "").rpartition(":")[2])


def parse_declaration(view: dict[str, Any]) -> Declaration:
    mode = _value(view, EmergencyBlock.MODE)
    interval = _value(view, EmergencyBlock.INTERVAL)
    return Declaration(
        type=_value(view, EmergencyBlock.TYPE) or "",
        title=_value(view, EmergencyBlock.TITLE) or "",
        drill=True if mode == MODE_DRILL else False if mode == MODE_REAL else None,
        areas=_value(view, EmergencyBlock.AREAS),
        situation=_value(view, EmergencyBlock.SITUATION),
        update_interval_minutes=ascii_int(interval) or 60,
    )
