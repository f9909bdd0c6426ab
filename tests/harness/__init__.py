"""Test harness: a fake Slack Web API and a client sending signed Slack requests to the app."""

from tests.harness.fake_slack import Call, FakeSlack, validate_blocks, validate_view
from tests.harness.slack_requests import (
    Response,
    SlackRequests,
    channels_select,
    checkboxes,
    conversations_select,
    datepicker,
    datetimepicker,
    multi_static_select,
    multi_users_select,
    number,
    option,
    plain,
    radio,
    static_select,
    timepicker,
    users_select,
)

__all__ = [
    "Call",
    "FakeSlack",
    "Response",
    "SlackRequests",
    "channels_select",
    "checkboxes",
    "conversations_select",
    "datepicker",
    "datetimepicker",
    "multi_static_select",
    "multi_users_select",
    "number",
    "option",
    "plain",
    "radio",
    "static_select",
    "timepicker",
    "users_select",
    "validate_blocks",
    "validate_view",
]
