"""A modal submission runs in the thread that answers it, and is answered with what its listener acked; other
requests are answered at their ack, their listener still running in Bolt's executor (`bot/handlers/in_place.py`).
The scenario tests send every modal submission through the running bot; this checks the rule itself."""

import json
import threading

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot.handlers.errors import StickyAck
from bot.handlers.in_place import SubmissionsInPlace, answer_submissions_in_place
from tests.conftest import BOT_TOKEN

VIEW = {"id": "V1", "type": "modal", "callback_id": "form", "state": {"values": {}}}


def payload(kind: str, **fields) -> dict:
    return {"type": kind, "team": {"id": "T1"}, "user": {"id": "U1"}, "api_app_id": "A1", **fields}


def app_with_listeners(fake_slack, ran_in: dict[str, int], after_ack: threading.Event) -> App:
    app = App(client=WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url), request_verification_enabled=False)

    @app.middleware
    def keep_acks(context, next):  # noqa: A002 - Bolt's name; as the bot's (bot/handlers/errors.py)
        context["ack"] = StickyAck()
        next()

    @app.view("form")
    def submitted(ack, view):
        ran_in["submission"] = threading.get_ident()
        if view["id"] == "V0BROKEN":
            raise RuntimeError("the store failed")
        if view["id"] == "V0STORED":
            ack()
            raise RuntimeError("ringing the dispatcher failed")
        ack(response_action="errors", errors={"text": "本文を入力してください"})
        after_ack.set()

    @app.action("approve")
    def clicked(ack):
        ack()
        ran_in["click"] = threading.get_ident()
        after_ack.set()

    answer_submissions_in_place(app)
    return app


def test_a_submission_is_worked_in_the_answering_thread_and_answered_with_its_ack(fake_slack):
    ran_in: dict[str, int] = {}
    after_ack = threading.Event()
    app = app_with_listeners(fake_slack, ran_in, after_ack)
    assert isinstance(app.listener_runner, SubmissionsInPlace)

    answer = app.dispatch(BoltRequest(body=payload("view_submission", view=VIEW), mode="socket_mode"))
    assert ran_in["submission"] == threading.get_ident()
    assert after_ack.is_set()  # done before the answer, not after it
    assert answer.status == 200
    assert json.loads(answer.body) == {"response_action": "errors", "errors": {"text": "本文を入力してください"}}

    after_ack.clear()
    answer = app.dispatch(BoltRequest(body=payload("block_actions", actions=[{"action_id": "approve", "value": "1"}]),
                                      mode="socket_mode"))
    assert answer.status == 200
    assert after_ack.wait(5)
    assert ran_in["click"] != threading.get_ident()
    app.listener_runner.listener_executor.shutdown(wait=True)


def test_the_apps_error_handler_answers_a_failed_submission_in_place_too(fake_slack):
    ran_in: dict[str, int] = {}
    app = app_with_listeners(fake_slack, ran_in, threading.Event())
    handled: list[str] = []

    @app.error  # registered after the runner was replaced, as Bolt lets an app do at any time
    def on_error(error, response):
        handled.append(str(error))
        response.status, response.body = 200, ""

    broken = {**VIEW, "id": "V0BROKEN"}
    answer = app.dispatch(BoltRequest(body=payload("view_submission", view=broken), mode="socket_mode"))
    assert handled == ["the store failed"]
    assert (answer.status, answer.body) == (200, "")


def test_a_submission_that_fails_after_its_ack_is_answered_with_the_ack(fake_slack):
    """Its work is stored: the modal closes, as the ack said, and the failure goes to the error handler (the log)."""
    app = app_with_listeners(fake_slack, {}, threading.Event())
    handled: list[str] = []

    @app.error
    def on_error(error, response):
        handled.append(str(error))
        return BoltResponse(status=200, body=json.dumps({"response_action": "push", "view": {"type": "modal"}}))

    stored = {**VIEW, "id": "V0STORED"}
    answer = app.dispatch(BoltRequest(body=payload("view_submission", view=stored), mode="socket_mode"))
    assert handled == ["ringing the dispatcher failed"]
    assert (answer.status, answer.body) == (200, "")


def test_through_the_bot_a_proposal_stored_before_a_failure_closes_its_form_and_is_on_the_record(koho, monkeypatch):
    """Signed, over HTTP: the submission is stored, then ringing the dispatcher fails; the person's form closes
    (the ack they were given) and the proposal is there, its request delivered at the dispatcher's next look."""
    from tests.test_proposals import form_values, latest_proposal, open_form, request_message

    def ring_fails() -> None:
        raise RuntimeError("the doorbell is broken")

    monkeypatch.setattr(koho.services, "notify", ring_fails)
    view = open_form(koho, "U0STAFF1")
    answer = koho.slack.view_submission("U0STAFF1", view, form_values())
    assert (answer.status, answer.body) == (200, "")
    assert latest_proposal(koho) is not None
    assert request_message(koho, "C0KANKYO")  # found by the dispatcher's own look, with no ring
