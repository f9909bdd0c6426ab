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
                  accounts: Sequence[Any] | None = None) -> dict[str, Any]:
    """`accounts`: what may be chosen (the register's postable accounts); default the organisation file's."""
    correcting = "corrects" in metadata
    title_key = ("proposal.form.title_resubmit" if "resubmit" in metadata
                 else "proposal.form.title_correction" if correcting else "proposal.form.title")
    departments = [org.pr_office, *org.departments]
    department_options = [blocks.option(d.name, d.id) for d in departments]
    account_options = [blocks.option(f"{a.name} ({tr.plain(f'proposal.platform.{a.platform}')})", a.id)
                       for a in (org.accounts if accounts is None else accounts)]
    accounts_element: dict[str, Any] = {
        "type": "multi_static_select", "action_id": FormBlock.ACCOUNTS, "options": account_options[:100],
        "placeholder": blocks.plain_text(tr.plain("proposal.form.accounts_placeholder"), 150),
    }
    chosen = [o for o in account_options if o["value"] in prefill.accounts]
    if chosen:
        accounts_element["initial_options"] = chosen
    department_element: dict[str, Any] = {"type": "static_select", "action_id": FormBlock.DEPARTMENT,
                                          "options": department_options[:100]}
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
        blocks.input_block(FormBlock.ACCOUNTS, tr.plain("proposal.form.accounts"), accounts_element),
        blocks.input_block(FormBlock.DEPARTMENT, tr.plain("proposal.form.department"), department_element),
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
