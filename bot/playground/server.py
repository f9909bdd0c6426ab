"""`python -m bot playground`: the bot and a local workspace in the browser, on loopback only.

Two waitress servers in one process:

- the workspace on http://127.0.0.1:3000/: the page (static/), its JSON API (/ui/...), and the fake
  Slack Web API the bot calls (/api/..., /response/..., /upload/...; SLACK_API_URL points here);
- the bot on 127.0.0.1:3001, exactly as `python -m bot serve` runs it: signed requests to
  /slack/events and /webhooks/comments, its own SQLite database (playground.db by default).

Reset stops the bot's background work, deletes its database, forgets the workspace and starts the bot
again on the same port. Nothing here talks to Slack.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bot.playground.fake_slack import FakeSlack, _Request, encode_answer
from bot.playground.workspace import PlaygroundError, Workspace
from bot.web import StartResponse, json_response

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
MAX_UI_BODY = 256 * 1024
LONG_POLL_SECONDS = 20.0


class _Switch:
    """The bot's WSGI app, swapped on reset; 503 while the bot restarts."""

    def __init__(self) -> None:
        self.target: Any = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = self.target
        if target is None:
            return json_response(start_response, "503 Service Unavailable", {"error": "the bot is restarting"})
        return target(environ, start_response)


class PlaygroundWeb:
    """The workspace's WSGI app: page, JSON API for the page, and the fake Slack Web API."""

    def __init__(self, fake: FakeSlack, playground: Playground):
        self.fake = fake
        self.playground = playground
        self.allowed_hosts: set[str] = set()

    @property
    def workspace(self) -> Workspace:
        return self.playground.workspace

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if path.startswith(("/api/", "/response/", "/upload/")):
            if environ.get("HTTP_ORIGIN") is not None:  # the bot never sends one; a web page always does
                return json_response(start_response, "403 Forbidden", {"error": "for the bot, not for web pages"})
            return self._slack_api(environ, start_response, path)
        # The page's API changes things: only from our own page (no other site, no DNS rebinding).
        if environ.get("HTTP_HOST", "") not in self.allowed_hosts:
            return json_response(start_response, "421 Misdirected Request", {"error": "unknown host"})
        if path == "/" or path.startswith("/static/"):
            return self._static(start_response, "index.html" if path == "/" else path[len("/static/"):])
        if path == "/favicon.ico":
            start_response("204 No Content", [])
            return []
        if path == "/healthz":
            return json_response(start_response, "200 OK", {"status": "ok"})
        if not path.startswith("/ui/"):
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        if method == "POST":
            origin = environ.get("HTTP_ORIGIN")
            if origin is not None and origin.split("://", 1)[-1] not in self.allowed_hosts:
                return json_response(start_response, "403 Forbidden", {"error": "cross-origin request refused"})
            if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
                return json_response(start_response, "415 Unsupported Media Type", {"error": "send JSON"})
        try:
            return self._ui(method, path[len("/ui/"):], environ, start_response)
        except PlaygroundError as e:
            return json_response(start_response, "400 Bad Request", {"error": e.key, "detail": e.detail})

    def _static(self, start_response: StartResponse, name: str) -> Iterable[bytes]:
        if name not in _STATIC_FILES:
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        body = (STATIC / name).read_bytes()
        start_response("200 OK", [
            ("Content-Type", f"{_STATIC_FILES[name]}; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"),
        ])
        return [body]

    def _ui(self, method: str, name: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if method == "GET":
            query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            if name == "directory":
                return json_response(start_response, "200 OK", self.workspace.directory())
            if name == "accounts":  # asked each time the comment form is shown: the register changes
                return json_response(start_response, "200 OK", {"accounts": self.playground.accounts()})
            if name == "state":
                since = int(query.get("since") or 0) if (query.get("since") or "0").isdigit() else 0
                if since:
                    self.fake.wait_change(since, LONG_POLL_SECONDS)
                snapshot = self.workspace.snapshot(query.get("user", ""), query.get("channel", ""))
                return json_response(start_response, "200 OK", snapshot)
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        if method != "POST":
            return json_response(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_UI_BODY:
            return json_response(start_response, "413 Request Entity Too Large", {"error": "too large"})
        try:
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PlaygroundError("bad_request", "not a JSON object")
        user = str(body.get("user") or "")
        ws = self.workspace
        result: Any = {"ok": True}
        if name == "type":
            ws.type_text(user, str(body.get("channel") or ""), str(body.get("text") or ""))
        elif name == "shortcut":
            ws.message_shortcut(user, str(body.get("channel")), str(body.get("ts")), str(body.get("callback_id")))
        elif name == "home":
            ws.open_home(user)
        elif name == "action":
            ws.act(user, body)
        elif name == "submit":
            result = {"ok": True, "errors": ws.submit(user, str(body.get("view_id")), body.get("values") or {})}
        elif name == "close":
            ws.close(user, str(body.get("view_id")))
        elif name == "comment":
            result = ws.send_comment(body)
        elif name == "reset":
            self.playground.reset()
        else:
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        return json_response(start_response, "200 OK", result)

    def _slack_api(self, environ: dict[str, Any], start_response: StartResponse, path: str) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        request = _Request(path=path, query=environ.get("QUERY_STRING", ""), headers=headers,
                           body=environ["wsgi.input"].read(length) if length else b"",
                           content_type=environ.get("CONTENT_TYPE", ""),
                           authorization=environ.get("HTTP_AUTHORIZATION"))
        status, payload, extra = self.fake._serve(request)
        data, content_type = encode_answer(payload)
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(data))),
                                               *extra.items()])
        return [data]


class Playground:
    """The bot and the workspace, started and stopped together (the CLI and the browser tests use it)."""

    def __init__(self, config_path: str | Path, db_path: str | Path, *, port: int = 3000, bot_port: int = 0,
                 log_level: str = "INFO", host: str = "127.0.0.1", any_bot_port: bool = False):
        """`any_bot_port`: when `bot_port` is taken, let the system choose one (only the page talks to it)."""
        from bot.organization import load_organization
        from bot.web import Server

        self.config_path = Path(config_path)
        self.db_path = Path(db_path)
        self.org = load_organization(self.config_path)
        self.log_level = log_level
        self.fake = FakeSlack(bot_token=f"xoxb-playground-{secrets.token_hex(8)}")
        self.signing_secret = secrets.token_hex(16)
        self.webhook_secret = secrets.token_hex(16)
        self.web = PlaygroundWeb(self.fake, self)
        self._ui_server = Server(self.web, host=host, port=port, threads=24)
        self._switch = _Switch()
        try:
            self._bot_server = Server(self._switch, host=host, port=bot_port)
        except OSError:
            if not (any_bot_port and bot_port):
                raise
            self._bot_server = Server(self._switch, host=host, port=0)
        self.host = host
        self.fake.served_at = f"http://{host}:{self.port}"
        self.fake.real_time_ts = True
        self.web.allowed_hosts = {f"{name}:{self.port}" for name in (host, "localhost", "127.0.0.1")}
        self.workspace = Workspace(self.org, self.fake, self.bot_url, self.signing_secret, self.webhook_secret)
        self._lock = threading.Lock()
        self._app: Any = None
        self._db: Any = None

    @property
    def port(self) -> int:
        return self._ui_server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def bot_url(self) -> str:
        return f"http://{self.host}:{self._bot_server.port}"

    def settings(self):  # noqa: ANN201
        from bot.settings import load_settings

        return load_settings({
            "SLACK_BOT_TOKEN": self.fake.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": f"http://{self.host}:{self.port}/api/",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "PORT": str(self._bot_server.port),
            "KOHO_CONFIG": str(self.config_path),
            "COMMENT_WEBHOOK_SECRET": self.webhook_secret,
            "LOG_LEVEL": self.log_level,
        }, dotenv_path=None)

    def start(self) -> Playground:
        self._ui_server.start()  # first: the bot calls auth.test on it while it starts
        self._bot_server.start()
        with self._lock:
            self._start_bot()
        return self

    def _start_bot(self) -> None:
        from bot import migrate
        from bot.app import create_app
        from bot.db import Database
        from bot.web import KohoWeb

        self._db = Database(f"sqlite:///{self.db_path}")
        migrate.upgrade(self._db)
        self._app = create_app(self.settings(), self.org, self._db)
        self._app.koho_services.start_background()
        self._switch.target = KohoWeb(self._app, self._db)

    def _stop_bot(self) -> None:
        self._switch.target = None
        if self._app is not None:
            self._app.koho_services.stop_background()
            self._app.listener_runner.listener_executor.shutdown(wait=True)
            self._app.koho_services.close_connections()  # the page's server would count them until they time out
            self._app = None
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def accounts(self) -> list[dict[str, str]]:
        """The accounts a comment may be sent to: the register's open ones (those opened in Slack too), as the
        bot's own forms offer them."""
        from bot.workflows.accounts.service import postable_accounts

        with self._lock:
            db = self._db
            return [{"id": a.id, "name": a.name} for a in postable_accounts(db, self.org)] if db is not None else []

    def reset(self) -> None:
        """A fresh start: the bot's database deleted, every message and modal forgotten."""
        with self._lock:
            self._stop_bot()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
            self.workspace.reset()
            self._start_bot()
        log.info("playground reset: %s recreated", self.db_path)

    def stop(self) -> None:
        with self._lock:
            self._stop_bot()
        self._bot_server.stop()
        self.fake._stopping.set()  # wakes long polls
        self.fake.touch()
        self._ui_server.stop()
