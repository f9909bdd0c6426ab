"""The WSGI application: Slack's requests, health, and (later) webhooks. Served by waitress."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.db import Database, mark_answering
from bot.delivery import paused_by_slack

log = logging.getLogger(__name__)
MAX_SLACK_BODY = 2 * 1024 * 1024  # Slack's largest payloads (big modal submissions) stay far below this

StartResponse = Callable[..., Any]
Route = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def json_response(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    start_response(status, [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class KohoWeb:
    def __init__(self, app: App, db: Database):
        from bot.webhooks import CommentWebhook

        self.slack = SlackRequestHandler(app, path="/slack/events")
        self.db = db
        self.routes: dict[tuple[str, str], Route] = {
            ("POST", "/slack/events"): self.slack_events,
            ("GET", "/healthz"): self.healthz,
            ("POST", "/webhooks/comments"): CommentWebhook(app.koho_services),  # type: ignore[attr-defined]
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        mark_answering()  # someone waits for this thread's answer: its writes go first
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        route = self.routes.get((method, path))
        if route is None:
            if any(p == path for _, p in self.routes):
                return json_response(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        return route(environ, start_response)

    def slack_events(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_SLACK_BODY:
            return json_response(start_response, "413 Request Entity Too Large", {"error": "request body too large"})
        # Bolt's verifier does int() on this header: a forged non-number would reach our error handler
        # (and be answered 200) instead of being refused.
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        if timestamp and not (timestamp.isascii() and timestamp.isdigit()):  # "²" passes isdigit() alone
            return json_response(start_response, "401 Unauthorized", {"error": "invalid request"})
        try:
            return self.slack(environ, start_response)
        except Exception as e:  # Bolt itself choked on a payload (e.g. a JSON list): the request is at fault
            log.warning("refused a Slack request Bolt could not parse: %s", type(e).__name__)
            return json_response(start_response, "400 Bad Request", {"error": "malformed request"})

    def healthz(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            up = self.db.ping()
            refused = paused_by_slack(self.db) if up else None
        except SQLAlchemyError:
            up, refused = False, None
        if not up:
            return json_response(start_response, "503 Service Unavailable", {"status": "unavailable", "database": "down"})
        if refused:
            # Slack refuses the bot's token: nothing is delivered until an operator fixes it. Still 200: this
            # process must go on taking citizens' comments and Slack's requests (a probe that restarted it on a
            # 503 would stop the webhook too, and a restart cannot fix a token); the body says what is wrong.
            return json_response(start_response, "200 OK",
                                 {"status": "degraded", "database": "ok", "delivery": "paused", "slack_error": refused})
        return json_response(start_response, "200 OK", {"status": "ok", "database": "ok"})


class Server:
    """waitress on a port, startable and stoppable from code (the CLI and the tests use it)."""

    def __init__(self, wsgi_app: Any, host: str, port: int, threads: int = 16):
        from waitress.server import create_server

        self._server = create_server(wsgi_app, host=host, port=port, threads=threads, ident="koho",
                                     max_request_body_size=MAX_SLACK_BODY + 1024, clear_untrusted_proxy_headers=True)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return self._server.effective_port

    def serve_forever(self) -> None:
        """Serve until `stop()`; then finish the requests in flight and close every socket."""
        server = self._server
        while not self._stopping.is_set():
            server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                                 use_poll=server.adj.asyncore_use_poll, count=1)
        server.task_dispatcher.shutdown()
        for channel in list(server._map.values()):
            channel.close()
        server.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="waitress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        # Wake the loop now rather than at its next timeout. If it woke by itself in between, it has
        # closed its sockets (the trigger too) already: nothing left to wake.
        with contextlib.suppress(OSError):
            self._server.pull_trigger()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
