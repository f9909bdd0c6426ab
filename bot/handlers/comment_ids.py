"""Ids of the citizen-comment flow's shortcut, modals, buttons and blocks (the manifest declares the shortcut)."""

from __future__ import annotations

from enum import StrEnum


class CommentShortcut(StrEnum):
    FORWARD_MESSAGE = "forward_message_as_citizen_comment"


class CommentCallback(StrEnum):
    FORWARD = "comment_forward"
    FORWARDED = "comment_forwarded"  # the "done" screen of the forward modal
    DONE = "comment_done"
    REASSIGN = "comment_reassign"
    REQUEST_HIDING = "comment_request_hiding"
    NO_ACTION = "comment_no_action"  # from a listing's "…" menu, a second step before closing
    INTERIM_REPLY = "comment_interim_reply"
    TRANSFER = "comment_transfer"
    DUPLICATE = "comment_duplicate"
    REOPEN = "comment_reopen"
    MORE = "comment_more_actions"  # a listed comment's actions its "…" menu had no room for


class CommentAction(StrEnum):
    ACKNOWLEDGE = "comment_acknowledge"
    REASSIGN = "comment_reassign"
    DONE = "comment_done"
    NO_ACTION = "comment_no_action"
    REQUEST_HIDING = "comment_request_hiding"
    INTERIM_REPLY = "comment_interim_reply"
    TRANSFER = "comment_transfer"
    DUPLICATE = "comment_duplicate"
    REOPEN = "comment_reopen"
    TRIAGE = "comment_triage"  # department picker on a comment waiting for triage
    CATEGORY = "comment_category"
    ROW_MENU = "comment_row_menu"  # the "…" menu of a comment listed in a digest or reminder
    CONFIRM_HIDING = "comment_confirm_hiding"
    DECLINE_HIDING = "comment_decline_hiding"
    SHOW_ORIGINAL = "comment_show_original"  # 原文を表示: the unmasked text, ephemeral, to the entitled only
    # inputs of the modals
    TEXT = "comment_text_input"
    SOURCE = "comment_source_input"
    URL = "comment_url_input"
    ACCOUNT = "comment_account_input"
    DEPARTMENT = "comment_department_input"
    CATEGORY_INPUT = "comment_category_input"
    NOTE = "comment_note_input"
    CRITERION = "comment_criterion_input"
    DESTINATION = "comment_destination_input"
    ORIGINAL = "comment_original_input"
    MORE = "comment_more_input"


class CommentBlock(StrEnum):
    TEXT = "comment_text"
    SOURCE = "comment_source"
    URL = "comment_url"
    ACCOUNT = "comment_account"
    DEPARTMENT = "comment_department"
    CATEGORY = "comment_category"
    NOTE = "comment_note"
    CRITERION = "comment_criterion"
    DESTINATION = "comment_destination"
    ORIGINAL = "comment_original"
    MORE = "comment_more"
