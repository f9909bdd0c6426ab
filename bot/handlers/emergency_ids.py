"""Ids of the emergency flow's buttons, menus, modals and blocks (Slack limits them to 255 characters)."""

from __future__ import annotations

from enum import StrEnum


class EmergencyAction(StrEnum):
    STEP_DONE = "emergency_step_done"
    STEP_REOPEN = "emergency_step_reopen"
    STEP_ASSIGN = "emergency_step_assign"
    STEP_NOTE = "emergency_step_note"
    DRAFT = "emergency_draft"  # a menu of post templates: value "<emergency id>:<template>:<locale>"
    DRAFT_BUTTON = "emergency_draft_button"  # one template (the 定時更新 reminder's button), same value
    STATUS = "emergency_status"
    END = "emergency_end"
    DECLARE_ANYWAY = "emergency_declare_anyway"
    RESUME = "emergency_held_resume"
    CANCEL_HELD = "emergency_held_cancel"
    OPEN_LINK = "emergency_open_link"  # a link button: Slack still sends the click; nothing to do


class EmergencyCallback(StrEnum):
    DECLARE = "emergency_declare"
    NOTE = "emergency_note"
    END = "emergency_end_confirm"
    RESUME = "emergency_resume"


class EmergencyBlock(StrEnum):
    """block_ids (= action_ids) of the emergency modals' inputs; validation errors are addressed to them."""

    TYPE = "emergency_type"
    TITLE = "emergency_title"
    AREAS = "emergency_areas"
    SITUATION = "emergency_situation"
    MODE = "emergency_mode"
    INTERVAL = "emergency_interval"
    NOTE = "emergency_note"
    WHICH = "emergency_which"
    CLOSING_NOTE = "emergency_closing_note"
    PUBLISH_AT = "emergency_publish_at"


MODE_DRILL = "drill"
MODE_REAL = "real"
