"""Settings: the environment (and `.env`) turned into one typed, validated object.

Every problem is collected and reported at once, in words an operator can act on: which
setting, what was wrong, where to get the right value. `python -m bot` turns a
`SettingsError` into that paragraph and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///koho.db"
DEFAULT_CONFIG_PATH = "config/organization.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Where each secret comes from, so the error message can say it.
WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "Slack app settings > OAuth & Permissions > Bot User OAuth Token (starts with xoxb-)",
    "SLACK_SIGNING_SECRET": "Slack app settings > Basic Information > App Credentials > Signing Secret",
    "SLACK_APP_TOKEN": "Slack app settings > Basic Information > App-Level Tokens, scope connections:write "
    "(starts with xapp-)",
}


SLACK_TOKENS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


def _environ_with_dotenv(dotenv_path: str | Path | None) -> dict[str, str]:
    """The environment over `.env` (the environment wins), without changing os.environ."""
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        from dotenv import dotenv_values

        values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    return {**values, **os.environ}


def slack_tokens_configured(environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env") -> bool:
    """Whether any Slack token or secret is set. None at all: `python -m bot` starts the playground;
    some but not all: `load_settings` names what is missing, as ever."""
    if environ is None:
        environ = _environ_with_dotenv(dotenv_path)
    return any(environ.get(name, "").strip() for name in SLACK_TOKENS)


def playground_config_path(environ: Mapping[str, str] | None = None, *,
                           dotenv_path: str | Path | None = ".env") -> Path | None:
    """The organisation file the playground shows: KOHO_CONFIG, else config/organization.toml, else the example."""
    if environ is None:
        environ = _environ_with_dotenv(dotenv_path)
    configured = environ.get("KOHO_CONFIG", "").strip()
    candidates = [configured] if configured else [DEFAULT_CONFIG_PATH, "config/organization.example.toml"]
    return next((Path(c) for c in candidates if Path(c).is_file()), None)


class SettingsError(Exception):
    """One or more settings are missing or wrong; `problems` lists each, ready to print."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None
    slack_api_url: str
    database_url: str
    port: int
    config_path: Path
    comment_webhook_secret: str | None
    log_level: str
    delivery_lease_seconds: int = 60
    slack_proxy: str | None = None  # an HTTP proxy to Slack (HTTPS_PROXY), as a city's network may require

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        values = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                  self.comment_webhook_secret, *_proxy_passwords(self.slack_proxy)]
        return [v for v in values if v]


# Where an HTTP proxy to Slack is read from, in slack_sdk's order.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def proxy_parts(proxy: str) -> SplitResult:
    """A proxy's URL in parts; `host:port` alone is read as http, as urllib reads it."""
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _proxy_passwords(proxy: str | None) -> list[str]:
    """The proxy's password as written in its URL and as sent (percent-decoded)."""
    password = proxy_parts(proxy).password if proxy else None
    return [password, unquote(password)] if password else []


def _proxy_problem(name: str, proxy: str) -> str | None:
    parts = proxy_parts(proxy)
    try:  # https:// is taken as urllib takes it: a plain connection to the proxy, then a tunnel
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        valid = False
    if valid:
        return None
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # never the password
    return f"{name} must be an HTTP proxy's URL such as http://proxy.example.lg.jp:8080, got {shown!r}."


def normalize_database_url(url: str) -> str:
    """Hosting platforms hand out `postgres://` or `postgresql://`; both mean psycopg 3 here."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env") -> Settings:
    """Read settings from `environ` (default: the process environment after loading `.env`).

    Real environment variables win over `.env`, so a deployment can override a developer file.
    """
    if environ is None:
        if dotenv_path is not None and Path(dotenv_path).is_file():
            from dotenv import load_dotenv

            load_dotenv(dotenv_path, override=False)
        environ = os.environ

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    problems: list[str] = []
    app_token = get("SLACK_APP_TOKEN")

    def required(name: str, prefix: str | None = None) -> str:
        value = get(name)
        if value is None:
            problems.append(f"{name} is not set. Get it from {WHERE_TO_GET[name]} and put it into .env.")
            return ""
        if prefix and not value.startswith(prefix):
            problems.append(
                f"{name} should start with {prefix!r} but does not. Get it from {WHERE_TO_GET[name]}."
            )
        return value

    bot_token = required("SLACK_BOT_TOKEN", "xoxb-")
    # Socket Mode requests arrive over the app's own WebSocket, so no signature to check there.
    signing_secret = required("SLACK_SIGNING_SECRET") if app_token is None else (get("SLACK_SIGNING_SECRET") or "")
    if app_token is not None and not app_token.startswith("xapp-"):
        problems.append(
            f"SLACK_APP_TOKEN should start with 'xapp-' but does not. Get it from {WHERE_TO_GET['SLACK_APP_TOKEN']},"
            " or leave it empty to serve HTTP instead of Socket Mode."
        )

    api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not api_url.startswith(("http://", "https://")):
        problems.append(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_SLACK_API_URL}, got {api_url!r}.")
    if not api_url.endswith("/"):
        api_url += "/"

    database_url = normalize_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        url = make_url(database_url)
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            problems.append(f"DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, got a {backend} URL.")
        elif backend == "postgresql" and url.get_driver_name() != "psycopg":
            problems.append(
                f"DATABASE_URL asks for the {url.get_driver_name()} driver; Koho installs psycopg 3: "
                "use postgresql+psycopg://user@host/dbname."
            )
    except ArgumentError:
        problems.append(
            "DATABASE_URL is not a database URL. Use sqlite:///koho.db or postgresql+psycopg://user@host/dbname."
        )

    port_text = get("PORT") or "3000"
    port = 0
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:  # not "²"
        problems.append(f"PORT must be a number from 1 to 65535, got {port_text!r}.")
    else:
        port = int(port_text)

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}.")

    lease_text = get("KOHO_DELIVERY_LEASE_SECONDS") or "60"
    lease = 60
    if not (lease_text.isascii() and lease_text.isdigit()) or not 2 <= int(lease_text) <= 3600:
        problems.append(f"KOHO_DELIVERY_LEASE_SECONDS must be a number of seconds from 2 to 3600, got {lease_text!r}.")
    else:
        lease = int(lease_text)

    proxy_variable = next((name for name in PROXY_VARIABLES if get(name)), None)
    proxy = get(proxy_variable) if proxy_variable else None
    if proxy is not None and (problem := _proxy_problem(proxy_variable, proxy)):
        problems.append(problem)

    config_path = Path(get("KOHO_CONFIG") or DEFAULT_CONFIG_PATH)
    if not config_path.is_file():
        problems.append(
            f"KOHO_CONFIG points to {str(config_path)!r}, which does not exist. Copy "
            "config/organization.example.toml to config/organization.toml and fill in your channels and people, "
            "or set KOHO_CONFIG to your organisation file."
        )

    if problems:
        raise SettingsError(problems)
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=api_url,
        database_url=database_url,
        port=port,
        config_path=config_path,
        comment_webhook_secret=get("COMMENT_WEBHOOK_SECRET"),
        log_level=log_level,
        delivery_lease_seconds=lease,
        slack_proxy=proxy,
    )
