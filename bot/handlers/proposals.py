"""Slack adapters of the proposal flow: /propose-post, the modal, approvers' buttons, publication."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.app import Services
from bot.handlers.errors import refusal_text, tell_where_they_are
from bot.handlers.ids import Command
from bot.handlers.modals import open_modal
from bot.handlers.proposal_ids import FormBlock, ProposalAction, ProposalCallback
from bot.i18n import Translator
from bot.text.mrkdwn import mention, slack_to_plain
from bot.text.typed_input import ascii_int
from bot.views.proposal_form import FormPrefill, default_department, proposal_form
from bot.workflows.accounts.service import postable_accounts
from bot.workflows.proposals.rules import (
    URL,
    Decision,
    Draft,
    Kind,
    Problem,
    correction_accounts,
    parse_links,
    validate,
)
from bot.workflows.proposals.service import Outcome, ProposalError, ProposalService

log = logging.getLogger(__name__)

# Which modal block a problem with each field is shown on.
FIELD_BLOCKS = {
    "text": FormBlock.TEXT, "accounts": FormBlock.ACCOUNTS, "department": FormBlock.DEPARTMENT,
    "links": FormBlock.LINKS, "publish_at": FormBlock.PUBLISH_AT, "kind": FormBlock.KIND,
    "correction_note": FormBlock.CORRECTION_NOTE,
}


def register(app: App, services: Services) -> None:
    proposals = ProposalService(services.db, services.org, services.clock)
    org = services.org

    def open_form(client: WebClient, trigger_id: str, user_id: str, prefill: FormPrefill, metadata: dict[str, Any],
                  **extra: Any) -> None:
        accounts = postable_accounts(services.db, org)
        open_modal(services, client, trigger_id, user_id,
                   lambda tr: proposal_form(tr, org, prefill, metadata=metadata, accounts=accounts, **extra))

    # -- proposing ------------------------------------------------------------------------------

    @app.command(Command.PROPOSE_POST)
    def propose_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()  # the trigger_id lives 3 s: open the modal right after
        user_id = command["user_id"]
        prefill = FormPrefill(text=command.get("text") or "", department_id=default_department(org, user_id))
        open_form(client, command["trigger_id"], user_id, prefill, {"mode": "new"})

    @app.shortcut(ProposalCallback.SHORTCUT)
    def propose_from_message(ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = shortcut["user"]["id"]
        text = slack_to_plain((shortcut.get("message") or {}).get("text") or "")  # as people read it, not markup
        prefill = FormPrefill(text=text, department_id=default_department(org, user_id))
        open_form(client, shortcut["trigger_id"], user_id, prefill, {"mode": "new"})

    @app.action(ProposalAction.NEW)
    def propose_from_home(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = body["user"]["id"]
        open_form(client, body["trigger_id"], user_id, FormPrefill(department_id=default_department(org, user_id)),
                  {"mode": "new"})

    @app.view(ProposalCallback.FORM)
    def submit_form(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        metadata = _metadata(view)
        draft = parse_form(view, metadata)
        known = {a.id: a.platform for a in postable_accounts(services.db, org)}  # withdrawn accounts take no posts
        problems = validate(draft, org, services.clock.now(), correcting="corrects" in metadata,
                            known_accounts=known, proposer=user_id)
        if problems:
            tr = services.answering_translator_for(user_id)
            ack(response_action="errors", errors=errors_for(tr, problems))
            return
        try:  # store first: if the database fails, the modal stays open with everything typed
            # (During a real, not drill, emergency 緊急 posts take the one-approval fast track: the store decides.)
            key = f"slack-view:{view['id']}" if view.get("id") else None  # a repeated submit stores nothing twice
            if "resubmit" in metadata:
                proposals.resubmit(user_id, int(metadata["resubmit"]), draft, submission_key=key)
            else:
                emergency = metadata.get("emergency")  # drafted from an emergency's template: linked to it
                proposals.submit(user_id, draft, submission_key=key,
                                 emergency_id=ascii_int(emergency))
        except ProposalError as e:
            tr = services.answering_translator_for(user_id)
            ack(response_action="errors", errors={FormBlock.TEXT: refusal_text(tr, e, plain=True)})
            return
        ack()
        services.notify()

    # -- deciding -------------------------------------------------------------------------------

    @app.action(ProposalAction.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        outcome = proposals.decide(user_id, int(action["value"]), Decision.APPROVE)
        services.notify()
        tell_outcome(services, respond, user_id, outcome, int(action["value"]))

    def ask_reason(decision: Decision):  # noqa: ANN202
        def open_reason_modal(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                              respond: Respond) -> None:
            ack()
            user_id, step_id = body["user"]["id"], int(action["value"])
            problem = proposals.check_may_decide(user_id, step_id)
            if problem is not None:
                if problem.result == "refused":  # record the attempt too, through the same rule
                    problem = proposals.decide(user_id, step_id, decision, reason="(refused before asking)")
                tell_outcome(services, respond, user_id, problem, step_id)
                return
            open_modal(services, client, body["trigger_id"], user_id, lambda tr: blocks.reason_modal(
                title=tr.plain(f"proposal.reason_modal.title_{decision}"), callback_id=ProposalCallback.REASON,
                submit=tr.plain("proposal.reason_modal.submit"), close=tr.plain("proposal.form.cancel"),
                label=tr.plain("proposal.reason_modal.label"), block_id=FormBlock.REASON,
                metadata={"step_id": step_id, "decision": decision},
            ))

        return open_reason_modal

    app.action(ProposalAction.REQUEST_CHANGES)(ask_reason(Decision.REQUEST_CHANGES))
    app.action(ProposalAction.REJECT)(ask_reason(Decision.REJECT))

    @app.view(ProposalCallback.REASON)
    def submit_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        metadata = _metadata(view)
        reason = (_value(view, FormBlock.REASON) or "").strip()
        if not reason:
            ack(response_action="errors", errors={FormBlock.REASON: tr.plain("proposal.error.reason_required")})
            return
        outcome = proposals.decide(user_id, int(metadata["step_id"]), Decision(metadata["decision"]), reason)
        if outcome.result != "decided":
            ack(response_action="errors", errors={FormBlock.REASON: outcome_text(tr, services, outcome,
                                                                                 int(metadata["step_id"]))})
            return
        ack()
        services.notify()

    # -- the proposer's own actions -------------------------------------------------------------

    @app.action(ProposalAction.EDIT)
    def edit(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        try:
            proposal, version = proposals.draft_for_edit(user_id, int(action["value"]))
        except ProposalError as e:
            respond(text=refusal_text(services.translator_for(user_id), e), response_type="ephemeral",
                    replace_original=False)
            return
        metadata: dict[str, Any] = {"mode": "resubmit", "resubmit": proposal.id}
        extra: dict[str, Any] = {}
        if proposal.corrects_id is not None:  # a correction sent back stays a correction of the same original
            metadata["corrects"] = proposal.corrects_id
            _original, original_version = proposals.original_for_correction(user_id, proposal.corrects_id)
            extra = {"original_text": original_version.text, "original_version": original_version.number}
        open_form(client, body["trigger_id"], user_id, prefill_from(version, proposal.department_id, proposal.kind),
                  metadata, **extra)

    @app.action(ProposalAction.WITHDRAW)
    def withdraw(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                 respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        tr = services.translator_for(user_id)
        try:
            proposals.withdraw(user_id, int(action["value"]))
        except ProposalError as e:
            # From a DM: an ephemeral answer; from App Home (no response_url): a DM.
            tell_where_they_are(client, respond, body, user_id, refusal_text(tr, e))
            return
        services.notify()
        tell_where_they_are(client, respond, body, user_id, tr.t("proposal.ack.withdrawn", id=action["value"]))

    # -- publication ----------------------------------------------------------------------------

    @app.action(ProposalAction.MARK_PUBLISHED)
    def mark_published(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                       respond: Respond) -> None:
        ack()
        user_id, publication_id = body["user"]["id"], int(action["value"])
        problem = proposals.check_may_publish(user_id, publication_id)
        if problem:
            respond(text=services.translator_for(user_id).t(problem), response_type="ephemeral",
                    replace_original=False)
            return
        url_input = {"type": "url_text_input", "action_id": FormBlock.URL}
        open_modal(services, client, body["trigger_id"], user_id, lambda tr: blocks.modal(
            title=tr.plain("proposal.publication.modal_title"), callback_id=ProposalCallback.PUBLISHED,
            submit=tr.plain("proposal.publication.submit"), close=tr.plain("proposal.form.cancel"),
            private_metadata=json.dumps({"publication_id": publication_id}),
            blocks=[
                blocks.input_block(FormBlock.URL, tr.plain("proposal.publication.url_label"), url_input),
                blocks.input_block(FormBlock.PUBLISHED_AT, tr.plain("proposal.publication.published_at_label"),
                                   {"type": "datetimepicker", "action_id": FormBlock.PUBLISHED_AT}, optional=True),
            ],
        ))

    @app.view(ProposalCallback.PUBLISHED)
    def submit_published(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        url = (_value(view, FormBlock.URL) or "").strip()
        if not URL.match(url):
            ack(response_action="errors", errors={FormBlock.URL: tr.plain("proposal.error.bad_url")})
            return
        published_at = _value(view, FormBlock.PUBLISHED_AT)
        try:
            proposals.mark_published(user_id, int(_metadata(view)["publication_id"]), url,
                                     published_at=published_at if published_at else None)
        except ProposalError as e:
            ack(response_action="errors", errors={FormBlock.URL: refusal_text(tr, e, plain=True)})
            return
        ack()
        services.notify()

    @app.action(ProposalAction.CORRECT)
    def correct(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        try:
            original, version = proposals.original_for_correction(user_id, int(action["value"]))
        except ProposalError as e:
            respond(text=refusal_text(services.translator_for(user_id), e), response_type="ephemeral",
                    replace_original=False)
            return
        prefill = prefill_from(version, original.department_id, Kind.CORRECTION)
        # Where the original is live (every account, once fully published); one still waiting keeps its hand-off.
        prefill.accounts = list(correction_accounts(version.accounts, original.live_on))
        open_form(client, body["trigger_id"], user_id, prefill, {"mode": "correction", "corrects": original.id},
                  original_text=version.text, original_version=version.number)

    @app.action(ProposalAction.OPEN_LINK)
    def open_link(ack: Ack) -> None:
        ack()  # a URL button: Slack opens the link; the click itself needs only an ack


# -- parsing and telling --------------------------------------------------------------------------


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _state(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    values = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    return next(iter(values.values()), {}) if isinstance(values, dict) else {}


def _value(view: dict[str, Any], block_id: str) -> Any:
    """The submitted value of one input, whatever its element type."""
    state = _state(view, block_id)
    kind = state.get("type")
    if kind in ("plain_text_input", "url_text_input"):
        return state.get("value")
    if kind == "datetimepicker":
        stamp = state.get("selected_date_time")
        seconds = ascii_int(stamp)
        return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None
    if kind in ("static_select", "radio_buttons"):
        return (state.get("selected_option") or {}).get("value")
    if kind in ("multi_static_select", "checkboxes"):
        return [o.get("value") for o in state.get("selected_options") or [] if isinstance(o, dict)]
    return None


def parse_form(view: dict[str, Any], metadata: dict[str, Any]) -> Draft:
    correcting = "corrects" in metadata
    kind = Kind.CORRECTION if correcting else (_value(view, FormBlock.KIND) or Kind.NORMAL)
    checklist = (_value(view, FormBlock.CHECKLIST_1) or []) + (_value(view, FormBlock.CHECKLIST_2) or [])
    return Draft(
        text=_value(view, FormBlock.TEXT) or "",
        accounts=tuple(_value(view, FormBlock.ACCOUNTS) or ()),
        department_id=_value(view, FormBlock.DEPARTMENT) or "",
        kind=Kind(kind) if kind in set(Kind) else Kind.NORMAL,
        links=parse_links(_value(view, FormBlock.LINKS)),
        media_description=_value(view, FormBlock.MEDIA),
        publish_at=_value(view, FormBlock.PUBLISH_AT),
        checklist=tuple(c for c in checklist if isinstance(c, str)),
        correction_note=_value(view, FormBlock.CORRECTION_NOTE),
        corrects_id=int(metadata["corrects"]) if correcting else None,
    )


def prefill_from(version: Any, department_id: str, kind: str) -> FormPrefill:
    return FormPrefill(text=version.text, accounts=list(version.accounts), department_id=department_id, kind=kind,
                       links=list(version.links), media_description=version.media_description or "",
                       publish_at=version.publish_at, correction_note=version.correction_note or "")


def errors_for(tr: Translator, problems: list[Problem]) -> dict[str, str]:
    """Modal field errors: every problem of a field, on that field's block."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        values = dict(problem.values)
        if "platform" in values:
            values["platform"] = tr.plain(f"proposal.platform.{values['platform']}")
        if problem.field == "checklist":
            items = set(values.pop("items"))
            for block_id, group in ((FormBlock.CHECKLIST_1, 0), (FormBlock.CHECKLIST_2, 1)):
                from bot.views.proposal_form import CHECKLIST_SPLIT
                from bot.workflows.proposals.rules import CHECKLIST

                part = CHECKLIST[:CHECKLIST_SPLIT] if group == 0 else CHECKLIST[CHECKLIST_SPLIT:]
                if items & set(part):
                    errors.setdefault(block_id, []).append(tr.plain(problem.key, **values))
            continue
        errors.setdefault(FIELD_BLOCKS.get(problem.field, FormBlock.TEXT), []).append(tr.plain(problem.key, **values))
    return {block: " / ".join(messages)[:2000] for block, messages in errors.items()}


def outcome_text(tr: Translator, services: Services, outcome: Outcome, step_id: int) -> str:
    if outcome.result == "refused":
        from bot.workflows.proposals.models import ApprovalStep
        from bot.workflows.proposals.service import step_approvers_of

        with services.db.read() as session:
            approvers = step_approvers_of(session.get(ApprovalStep, step_id), services.org)
        names = " ".join(mention(a) for a in approvers)
        return tr.plain(outcome.reason_key, approvers=names)
    if outcome.result == "already_decided" and outcome.step_status == "cancelled" and outcome.proposal_status == "pending":
        return tr.plain("proposal.refused.request_moved_on")  # a newer request of the same proposal waits
    if outcome.result == "already_decided":
        labels = {"approved": "approve", "changes_requested": "request_changes", "rejected": "reject"}
        label = labels.get(outcome.step_status or "")
        return tr.plain("proposal.refused.already_decided",
                        who=mention(outcome.decided_by) if outcome.decided_by else "—",
                        when=tr.datetime(outcome.decided_at) if outcome.decided_at else "—",
                        outcome=tr.plain(f"proposal.request.{label}") if label
                        else tr.plain(f"proposal.status.{outcome.proposal_status or 'withdrawn'}"))
    return tr.plain("proposal.ack.decided", outcome=outcome.step_status)


def tell_outcome(services: Services, respond: Respond, user_id: str, outcome: Outcome, step_id: int) -> None:
    """Refusals and lost races are told to the clicker alone; a decision shows in the message itself."""
    if outcome.result == "decided":
        return
    tr = services.translator_for(user_id)
    respond(text=outcome_text(tr, services, outcome, step_id), response_type="ephemeral", replace_original=False)
