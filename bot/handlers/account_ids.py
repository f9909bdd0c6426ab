"""Ids of the account register's buttons, modals and blocks (Slack limits them to 255 characters)."""

from __future__ import annotations

from enum import StrEnum


class AccountAction(StrEnum):
    ADD = "account_add"
    EDIT = "account_edit"
    APPROVE_CHANGE = "account_change_approve"
    REJECT_CHANGE = "account_change_reject"
    REVIEW_CONTINUE = "account_review_continue"
    REVIEW_WITHDRAW = "account_review_withdraw"


class AccountCallback(StrEnum):
    FORM = "account_form"
    REJECT_REASON = "account_change_reject_reason"


class AccountBlock(StrEnum):
    """block_ids of the add/edit modal; validation errors are addressed to them (= the draft's fields)."""

    ACCOUNT_ID = "account_id"
    PLATFORM = "platform"
    NAME = "name"
    HANDLE = "handle"
    URL = "url"
    KIND = "kind"
    DEPARTMENT = "department_id"
    MANAGER = "manager"
    OPERATORS = "operators"
    PURPOSE = "purpose"
    AUDIENCE = "audience"
    POSTING_HOURS = "posting_hours"
    POLICY_URL = "policy_url"
    PASSWORD_CHANGED = "password_changed_on"  # noqa: S105 - a block id, not a secret
    REASON = "reason"  # the rejection modal
