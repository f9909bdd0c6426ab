"""Ids of the proposal flow's buttons, modals and blocks (Slack limits them to 255 characters)."""

from __future__ import annotations

from enum import StrEnum


class ProposalAction(StrEnum):
    APPROVE = "proposal_approve"
    REQUEST_CHANGES = "proposal_request_changes"
    REJECT = "proposal_reject"
    EDIT = "proposal_edit"
    WITHDRAW = "proposal_withdraw"
    MARK_PUBLISHED = "proposal_mark_published"
    CORRECT = "proposal_correct"
    NEW = "proposal_new"
    OPEN_LINK = "proposal_open_link"  # a link button: Slack still sends the click; nothing to do


class ProposalCallback(StrEnum):
    FORM = "proposal_form"
    REASON = "proposal_reason"
    PUBLISHED = "proposal_published"
    SHORTCUT = "propose_post_from_message"


class FormBlock(StrEnum):
    """block_ids of the proposal modal; validation errors are addressed to them."""

    ACCOUNTS = "accounts"
    DEPARTMENT = "department"
    KIND = "kind"
    TEXT = "text"
    LINKS = "links"
    MEDIA = "media"
    PUBLISH_AT = "publish_at"
    CHECKLIST_1 = "checklist_1"
    CHECKLIST_2 = "checklist_2"
    CORRECTION_NOTE = "correction_note"
    REASON = "reason"
    URL = "url"
    PUBLISHED_AT = "published_at"
