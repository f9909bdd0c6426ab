"""Slack adapters of the account register: `/koho accounts`, `/koho report`, the modal, the buttons."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.app import Services
from bot.handlers.account_ids import AccountAction, AccountBlock, AccountCallback
from bot.handlers.modals import open_modal
from bot.i18n import Translator
from bot.text.mrkdwn import channel_link
from bot.text.typed_input import command_word, plain_handle, plain_url_host
from bot.views.accounts import account_form, account_list
from bot.workflows.accounts.rules import AccountDraft, ReviewDecision, local_date, may_manage, validate
from bot.workflows.accounts.service import AccountError, AccountService, Outcome, activity

PERIODS = {"week": "week", "month": "month", "週": "week", "週次": "week", "月": "month", "月次": "month"}


def _ephemeral(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def list_accounts(services: Services, user_id: str, respond: Respond) -> None:
    """`/koho accounts`: the register with status, activity and warnings (an ephemeral message)."""
    tr = services.translator_for(user_id)
    now = services.clock.now()
    with services.db.read() as session:
        seen = activity(session, now, services.org.register.inactive_days)
    accounts = AccountService(services.db, services.org, services.clock).accounts()
    body = account_list(tr, services.org, accounts, seen, local_date(now, services.org),
                        manage=may_manage(user_id, services.org))
    respond(text=tr.plain("accounts.list.title"), blocks=body, response_type="ephemeral")


def koho_accounts(services: Services, command: dict[str, Any], words: list[str], respond: Respond,
                  client: WebClient) -> None:
    user_id = command["user_id"]
    action = command_word(words[1]) if len(words) > 1 else "list"
    if action in ("add", "追加", "new"):
        open_form(services, client, command["trigger_id"], user_id, None, respond)
    elif action in ("list", "一覧"):
        list_accounts(services, user_id, respond)
    elif action in ("withdraw", "撤退") and len(words) > 2:
        tr = services.translator_for(user_id)
        account_id = command_word(words[2])  # an id is ASCII; the reason after it stays as typed
        try:
            AccountService(services.db, services.org, services.clock).request_withdraw(
                user_id, account_id, " ".join(words[3:]) or None)
        except AccountError as e:
            _ephemeral(respond, tr.t(e.key, **e.values))
            return
        services.notify()
        _ephemeral(respond, tr.t("accounts.ack.requested", kind=tr.plain("accounts.change_kind.withdraw"), id=account_id))
    else:
        _ephemeral(respond, services.translator_for(user_id).t("accounts.list.usage"))


def koho_report(services: Services, command: dict[str, Any], words: list[str], respond: Respond) -> None:
    user_id = command["user_id"]
    tr = services.translator_for(user_id)
    period = PERIODS.get(command_word(words[1]) if len(words) > 1 else "week")
    if period is None:
        _ephemeral(respond, tr.t("accounts.report.usage"))
        return
    try:
        AccountService(services.db, services.org, services.clock).request_report(user_id, period)
    except AccountError as e:
        _ephemeral(respond, tr.t(e.key, **e.values))
        return
    services.notify()
    _ephemeral(respond, tr.t("accounts.report.posted", channel=channel_link(services.org.pr_office.channel)))


def open_form(services: Services, client: WebClient, trigger_id: str, user_id: str, account_id: str | None,
              respond: Respond) -> None:
    accounts = AccountService(services.db, services.org, services.clock)
    try:
        accounts.check_may_manage(user_id)
        account = accounts.account(account_id) if account_id else None
    except AccountError as e:
        _ephemeral(respond, services.translator_for(user_id).t(e.key, **e.values))
        return
    open_modal(services, client, trigger_id, user_id, lambda tr: account_form(tr, services.org, account))


def _state(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return (view.get("state", {}).get("values", {}).get(block_id) or {}).get(block_id) or {}


def parse_form(view: dict[str, Any], metadata: dict[str, Any]) -> tuple[AccountDraft, list[str]]:
    """The modal's values as a draft; also which fields could not even be read (a bad date)."""
    def text(block_id: str) -> str:
        return (_state(view, block_id).get("value") or "").strip()

    def choice(block_id: str) -> str:
        return ((_state(view, block_id).get("selected_option") or {}).get("value")) or ""

    unreadable = []
    password = None
    raw_date = _state(view, AccountBlock.PASSWORD_CHANGED).get("selected_date")
    if raw_date:
        try:
            password = date.fromisoformat(raw_date)
        except ValueError:
            unreadable.append(AccountBlock.PASSWORD_CHANGED)
    draft = AccountDraft(
        account_id=metadata.get("account_id") or text(AccountBlock.ACCOUNT_ID),
        platform=choice(AccountBlock.PLATFORM), name=text(AccountBlock.NAME),
        handle=plain_handle(text(AccountBlock.HANDLE)),  # ＠ｃｈｉｂａ＿ｃｉｔｙ from an IME is @chiba_city
        kind=choice(AccountBlock.KIND), department_id=choice(AccountBlock.DEPARTMENT),
        url=plain_url_host(text(AccountBlock.URL)) or None,
        manager=_state(view, AccountBlock.MANAGER).get("selected_user") or None,
        operators=tuple(_state(view, AccountBlock.OPERATORS).get("selected_users") or ()),
        purpose=text(AccountBlock.PURPOSE) or None, audience=text(AccountBlock.AUDIENCE) or None,
        posting_hours=text(AccountBlock.POSTING_HOURS) or None,
        policy_url=plain_url_host(text(AccountBlock.POLICY_URL)) or None,
        password_changed_on=password,
    )
    return draft, unreadable


def _done_view(tr: Translator, text: str) -> dict[str, Any]:
    return blocks.modal(title=tr.plain("accounts.list.title"), close=tr.plain("accounts.form.cancel"),
                        blocks=[blocks.section(text)])


def _tell(services: Services, respond: Respond, user_id: str, outcome: Outcome, ok_key: str, **values: Any) -> None:
    tr = services.translator_for(user_id)
    if outcome.result == "refused":
        _ephemeral(respond, tr.t(outcome.reason_key or "accounts.refused.not_pr_office"))
    elif outcome.result == "already_decided":
        _ephemeral(respond, tr.t(values.pop("already_key", "accounts.ack.already"), status=outcome.status or ""))
    else:
        _ephemeral(respond, tr.t(ok_key, **values))


def register(app: App, services: Services) -> None:
    org = services.org
    accounts = AccountService(services.db, org, services.clock)

    @app.action(AccountAction.ADD)
    def add(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        open_form(services, client, body["trigger_id"], body["user"]["id"], None, respond)

    @app.action(AccountAction.EDIT)
    def edit(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        open_form(services, client, body["trigger_id"], body["user"]["id"], action["value"], respond)

    @app.view(AccountCallback.FORM)
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        metadata = json.loads(view.get("private_metadata") or "{}")
        new = metadata.get("mode") == "new"
        draft, unreadable = parse_form(view, metadata)
        today = local_date(services.clock.now(), org)
        problems = validate(draft, org, today, new=new, existing_ids=accounts.ids() if new else set())
        errors = {p.field: tr.plain(p.key, **p.values) for p in problems}
        errors.update({block: tr.plain("accounts.error.required") for block in unreadable})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            if new:
                accounts.request_open(user_id, draft)
                text = tr.t("accounts.ack.requested", kind=tr.plain("accounts.change_kind.open"), id=draft.account_id)
            else:
                edited = accounts.edit(user_id, draft.account_id, draft, int(metadata.get("row_version") or 0))
                if edited.change_id is None:
                    text = tr.t("accounts.ack.saved", name=draft.name)
                elif edited.saved:
                    text = tr.t("accounts.ack.saved_and_handover_requested", name=draft.name, id=draft.account_id)
                else:
                    text = tr.t("accounts.ack.requested", kind=tr.plain("accounts.change_kind.handover"),
                                id=draft.account_id)
        except AccountError as e:
            field = AccountBlock.ACCOUNT_ID if new else AccountBlock.NAME
            ack(response_action="errors", errors={field: tr.plain(e.key, **e.values)})
            return
        ack(response_action="update", view=_done_view(tr, text))
        services.notify()

    def tell_change(user_id: str, change_id: int, outcome: Outcome, respond: Respond) -> None:
        tr = services.translator_for(user_id)
        change = accounts.change(change_id)
        if outcome.result == "already_decided":
            outcome = replace(outcome, status=tr.plain(f"accounts.change_status.{outcome.status}"))
        _tell(services, respond, user_id, outcome,
              "accounts.ack.approved" if change.status == "approved" else "accounts.ack.rejected",
              kind=tr.plain(f"accounts.change_kind.{change.kind}"), id=change.account_id)

    @app.action(AccountAction.APPROVE_CHANGE)
    def approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id, change_id = body["user"]["id"], int(action["value"])
        try:
            outcome = accounts.decide(user_id, change_id, True)
        except AccountError as e:
            _ephemeral(respond, services.translator_for(user_id).t(e.key, **e.values))
            return
        services.notify()
        tell_change(user_id, change_id, outcome, respond)

    @app.action(AccountAction.REJECT_CHANGE)
    def ask_rejection_reason(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                             respond: Respond) -> None:
        ack()
        user_id, change_id = body["user"]["id"], int(action["value"])
        try:
            problem = accounts.check_may_decide(user_id, change_id)
            if problem is not None and problem.result == "refused":  # recorded through the same rule
                problem = accounts.decide(user_id, change_id, False, reason="(refused before asking)")
        except AccountError as e:
            _ephemeral(respond, services.translator_for(user_id).t(e.key, **e.values))
            return
        if problem is not None:
            tell_change(user_id, change_id, problem, respond)
            return
        open_modal(services, client, body["trigger_id"], user_id, lambda tr: blocks.reason_modal(
            title=tr.plain("accounts.reject_modal.title"), callback_id=AccountCallback.REJECT_REASON,
            submit=tr.plain("accounts.reject_modal.submit"), close=tr.plain("accounts.form.cancel"),
            label=tr.plain("accounts.reject_modal.label"), block_id=AccountBlock.REASON,
            metadata={"change_id": change_id},
        ))

    @app.view(AccountCallback.REJECT_REASON)
    def reject(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        tr = services.answering_translator_for(user_id)
        change_id = int(json.loads(view.get("private_metadata") or "{}")["change_id"])
        reason = (_state(view, AccountBlock.REASON).get("value") or "").strip()
        try:
            outcome = accounts.decide(user_id, change_id, False, reason)
        except AccountError as e:
            ack(response_action="errors", errors={AccountBlock.REASON: tr.plain(e.key, **e.values)})
            return
        if outcome.result != "decided":
            key = outcome.reason_key if outcome.result == "refused" else "accounts.ack.already"
            status = tr.plain(f"accounts.change_status.{outcome.status}") if outcome.status else ""
            ack(response_action="errors", errors={AccountBlock.REASON: tr.plain(key or "accounts.ack.already",
                                                                                status=status)})
            return
        ack()
        services.notify()

    def decide_review(decision: ReviewDecision):  # noqa: ANN202
        def handler(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
            ack()
            user_id = body["user"]["id"]
            tr = services.translator_for(user_id)
            try:
                outcome = accounts.decide_review(user_id, int(action["value"]), decision)
            except AccountError as e:
                _ephemeral(respond, tr.t(e.key, **e.values))
                return
            services.notify()
            _tell(services, respond, user_id, outcome, f"accounts.ack.review_{decision}",
                  already_key="accounts.ack.review_already")

        return handler

    app.action(AccountAction.REVIEW_CONTINUE)(decide_review(ReviewDecision.CONTINUE))
    app.action(AccountAction.REVIEW_WITHDRAW)(decide_review(ReviewDecision.WITHDRAW))
