"""A modal submission is answered when its listener returns, not at Bolt's next look for its ack.

Bolt runs a listener in its executor, and the thread that answers Slack looks for the ack every 10 ms
(`ThreadListenerRunner`: `time.sleep(0.01)` until `ack.response` is set). A modal submission's listener checks
the form and stores what it records before it answers, and when that took more than 10 ms (another request's
work beside it) the answer waited for the next look: 20 ms for 12 (bench/findings.md, eighteenth round). These
listeners do nothing after their ack but ring the dispatcher, so a submission runs in the thread that answers
it, through Bolt's own path for that (`process_before_response`), and is answered as soon as it is done.
Every other request (a command whose form is opened after its ack, a click) is answered at its ack, as before.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.listener import Listener
from slack_bolt.listener.thread_runner import ThreadListenerRunner


class SubmissionsInPlace:
    """The app's listener runner, with modal submissions run in place (see the module's docstring)."""

    def __init__(self, pooled: ThreadListenerRunner):
        self.pooled = pooled
        self.in_place = ThreadListenerRunner(
            logger=pooled.logger, process_before_response=True, listener_error_handler=pooled.listener_error_handler,
            listener_start_handler=pooled.listener_start_handler,
            listener_completion_handler=pooled.listener_completion_handler,
            listener_executor=pooled.listener_executor, lazy_listener_runner=pooled.lazy_listener_runner,
        )

    def run(self, request: BoltRequest, response: BoltResponse, listener_name: str, listener: Listener,
            starting_time: float | None = None) -> BoltResponse | None:
        if request.body.get("type") != "view_submission":
            return self.pooled.run(request=request, response=response, listener_name=listener_name,
                                   listener=listener, starting_time=starting_time)
        answer = self.in_place.run(request=request, response=response, listener_name=listener_name,
                                   listener=listener, starting_time=starting_time)
        # A listener that failed after its ack (its work stored) is answered with that ack, as it would have
        # been at once: not with the error handler's "something went wrong" (`StickyAck` keeps the first answer).
        given = request.context.ack.response
        return given if given is not None else answer

    @property
    def listener_error_handler(self) -> Any:
        return self.pooled.listener_error_handler

    @listener_error_handler.setter
    def listener_error_handler(self, handler: Any) -> None:  # `App.error` sets it: both runners use it
        self.pooled.listener_error_handler = self.in_place.listener_error_handler = handler

    def __getattr__(self, name: str) -> Any:  # the rest as the app's (its executor, which tests shut down)
        return getattr(self.pooled, name)


def answer_submissions_in_place(app: App) -> None:
    """Bolt's App has no setting for this: its runner is replaced (`App.dispatch` calls `_listener_runner.run`)."""
    app._listener_runner = SubmissionsInPlace(app.listener_runner)  # type: ignore[assignment]
