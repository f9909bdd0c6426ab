"""The proposal modal: new, edit-and-resubmit, and correction all use this one form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import blocks
from bot.handlers.proposal_ids import FormBlock, ProposalCallback
from bot.i18n import Translator
from bot.organization import PR_OFFICE_ID, Organization
from bot.workflows.proposals.rules import CHECKLIST, TEXT_MAX, Kind, may_choose_department

CHECKLIST_SPLIT = 6  # Slack's checkboxes take at most 10 options: two groups of six


@dataclass
class FormPrefill:
    text: str = ""
    accounts: list[str] = field(default_factory=list)
    department_id: str | None = None
    kind: str = Kind.NORMAL
    links: list[str] = field(default_factory=list)
    media_description: str = ""
    publish_at: datetime | None = None
    correction_note: str = ""


def proposal_form(tr: Translator, org: Organization, prefill: FormPrefill, *, metadata: dict[str, Any],
                  original_text: str | None = None, original_version: int | None = None,
                  accounts: Sequence[Any]) -> dict[str, Any]:
    """`accounts`: what may be chosen (the register's postable accounts)."""
    correcting = "corrects" in metadata
    title_key = ("proposal.form.title_resubmit" if "resubmit" in metadata
                 else "proposal.form.title_correction" if correcting else "proposal.form.title")
    accounts_element, accounts_left_out = account_select(
        tr, org, accounts, prefill.accounts, prefill.department_id)
    department_options, departments_left_out = blocks.fit_options(
        [blocks.option(d.name, d.id) for d in (org.pr_office, *org.departments)], keep=[prefill.department_id])
    department_element: dict[str, Any] = {"type": "static_select", "action_id": FormBlock.DEPARTMENT,
                                          "options": department_options}
    initial_department = next((o for o in department_options if o["value"] == prefill.department_id), None)
    if initial_department:
        department_element["initial_option"] = initial_department
    text_element: dict[str, Any] = {"type": "plain_text_input", "action_id": FormBlock.TEXT, "multiline": True,
                                    "max_length": TEXT_MAX}
    if prefill.text:
        text_element["initial_value"] = prefill.text[:TEXT_MAX]

    view_blocks: list[dict[str, Any]] = []
    if correcting and original_text is not None:
        view_blocks.append(blocks.section(tr.t("proposal.form.original", version=original_version or 1)))
        # All of it, as sections: a context element holds 2,000 characters, and a post may have 3,000.
        view_blocks += blocks.long_text_sections(_escape(original_text))
    view_blocks += [
        blocks.input_block(FormBlock.ACCOUNTS, tr.plain("proposal.form.accounts"), accounts_element,
                           hint=tr.plain("proposal.form.accounts_not_listed", count=accounts_left_out)
                           if accounts_left_out else None),
        blocks.input_block(FormBlock.DEPARTMENT, tr.plain("proposal.form.department"), department_element,
                           hint=tr.plain("proposal.form.departments_not_listed", count=departments_left_out)
                           if departments_left_out else None),
    ]
    if not correcting:
        kinds = [blocks.option(tr.plain(f"proposal.kind.{k}"), k) for k in Kind]
        kind_element = {"type": "radio_buttons", "action_id": FormBlock.KIND, "options": kinds,
                        "initial_option": next(o for o in kinds if o["value"] == prefill.kind)}
        view_blocks.append(blocks.input_block(FormBlock.KIND, tr.plain("proposal.form.kind"), kind_element))
    view_blocks.append(blocks.input_block(FormBlock.TEXT, tr.plain("proposal.form.text"), text_element,
                                          hint=tr.plain("proposal.form.text_hint")))
    if correcting:
        note = {"type": "plain_text_input", "action_id": FormBlock.CORRECTION_NOTE, "multiline": True,
                "max_length": 1000}
        if prefill.correction_note:
            note["initial_value"] = prefill.correction_note
        view_blocks.append(blocks.input_block(FormBlock.CORRECTION_NOTE, tr.plain("proposal.form.correction_note"), note))
    view_blocks += [
        blocks.input_block(FormBlock.LINKS, tr.plain("proposal.form.links"),
                           _text_input(FormBlock.LINKS, "\n".join(prefill.links), 2000),
                           optional=True, hint=tr.plain("proposal.form.links_hint")),
        blocks.input_block(FormBlock.MEDIA, tr.plain("proposal.form.media"),
                           _text_input(FormBlock.MEDIA, prefill.media_description, 1000), optional=True),
        blocks.input_block(FormBlock.PUBLISH_AT, tr.plain("proposal.form.publish_at"),
                           _datetime_input(FormBlock.PUBLISH_AT, prefill.publish_at), optional=True,
                           hint=tr.plain("proposal.form.publish_at_hint")),
    ]
    groups = ((FormBlock.CHECKLIST_1, CHECKLIST[:CHECKLIST_SPLIT]), (FormBlock.CHECKLIST_2, CHECKLIST[CHECKLIST_SPLIT:]))
    for block_id, items in groups:
        element = {"type": "checkboxes", "action_id": block_id,
                   "options": [blocks.option(tr.plain(f"proposal.checklist.{i}"), i) for i in items]}
        view_blocks.append(blocks.input_block(block_id, tr.plain(f"proposal.form.{block_id}"), element, optional=True))
    return blocks.modal(
        title=tr.plain(title_key), callback_id=ProposalCallback.FORM, submit=tr.plain("proposal.form.submit"),
        close=tr.plain("proposal.form.cancel"), blocks=view_blocks, private_metadata=json.dumps(metadata),
    )


def account_select(tr: Translator, org: Organization, accounts: Sequence[Any], chosen: Sequence[str],
                   department_id: str | None) -> tuple[dict[str, Any], int]:
    """The 投稿先アカウント select, and how many postable accounts it could not list (normally none).

    Up to 100 accounts are one list, in the register's order. More are grouped, so that every one can be
    chosen: by owning department, in the departments' order (the PR office first; accounts of a department no
    longer in the organisation file last, as その他), a department with more than 100 in several groups. The
    accounts the form starts with (a resubmission, a correction, an emergency template) are a group of their own,
    first: Slack refuses, or does not show, initial options taken from several groups. Only past 100 groups are
    some left out: never those, nor `department_id`'s (the form's department: the proposer's, or the proposal's).
    """
    element: dict[str, Any] = {"type": "multi_static_select", "action_id": FormBlock.ACCOUNTS,
                               "placeholder": blocks.plain_text(tr.plain("proposal.form.accounts_placeholder"), 150)}
    options = [(blocks.option(f"{a.name} ({tr.plain(f'proposal.platform.{a.platform}')})", a.id), owner_of(a))
               for a in accounts]
    initial = [o for o, _ in options if o["value"] in chosen][:blocks.SELECT_OPTIONS_MAX]
    choices, left_out = account_choices(tr, org, options, initial, department_id)
    element.update(choices)
    if initial:
        element["initial_options"] = initial
    return element, left_out


def owner_of(account: Any) -> str | None:
    """The account's department: the register's accounts name it `department_id`; the organisation file's,
    `department`."""
    return getattr(account, "department_id", None) or getattr(account, "department", None)


def account_choices(tr: Translator, org: Organization, options: list[tuple[dict[str, Any], str | None]],
                    initial: list[dict[str, Any]], department_id: str | None) -> tuple[dict[str, Any], int]:
    """An account select's choices (`options`: each with its owning department), as `account_select` lays them
    out: `{"options": …}` up to 100, else `{"option_groups": …}`; and how many could not be listed."""
    if len(options) <= blocks.SELECT_OPTIONS_MAX:
        return {"options": [o for o, _ in options]}, 0
    groups, left_out = _account_groups(tr, org, options, initial, department_id)
    return {"option_groups": groups}, left_out


def _account_groups(tr: Translator, org: Organization, options: list[tuple[dict[str, Any], str | None]],
                    initial: list[dict[str, Any]], department_id: str | None) -> tuple[list[dict[str, Any]], int]:
    initial_values = {o["value"] for o in initial}
    names = {d.id: d.name for d in (org.pr_office, *org.departments)}
    by_department: dict[str | None, list[dict[str, Any]]] = {d: [] for d in names}
    other: list[dict[str, Any]] = []
    for option, owner in options:
        if option["value"] not in initial_values:
            by_department.get(owner, other).append(option)
    labelled = [(d, names[d], found) for d, found in by_department.items() if found and d is not None]
    if other:
        labelled.append((None, tr.plain("proposal.form.accounts_other"), other))
    # (keep?, group): the initial accounts' group and the form's department stay if not all groups fit.
    groups: list[tuple[bool, dict[str, Any]]] = []
    if initial:
        groups.append((True, blocks.option_group(tr.plain("proposal.form.accounts_chosen"), initial)))
    for owner, label, found in labelled:
        parts = [found[n:n + blocks.SELECT_OPTIONS_MAX] for n in range(0, len(found), blocks.SELECT_OPTIONS_MAX)]
        for number, part in enumerate(parts, 1):
            groups.append((owner is not None and owner == department_id,
                           blocks.option_group(label if len(parts) == 1 else f"{label} ({number}/{len(parts)})", part)))
    shown = [group for _, group in blocks.within(groups, blocks.OPTION_GROUPS_MAX, lambda g: g[0])]
    return shown, len(options) - sum(len(g["options"]) for g in shown)


def default_department(org: Organization, user_id: str, kind: Kind = Kind.NORMAL) -> str | None:
    """The proposer's department; the PR office only for those who may choose it, else none preselected."""
    home = org.home_department(user_id)
    if home:
        return home.id
    return PR_OFFICE_ID if may_choose_department(user_id, PR_OFFICE_ID, kind, org) else None


def _text_input(action_id: str, initial: str, max_length: int) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "multiline": True,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    return element


def _datetime_input(action_id: str, initial: datetime | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "datetimepicker", "action_id": action_id}
    if initial is not None:
        element["initial_date_time"] = int(initial.timestamp())
    return element


def _escape(text: str) -> str:
    from bot.text.mrkdwn import escape

    return escape(text)
