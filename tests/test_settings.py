"""Settings: read from the environment, refused clearly when missing or wrong."""

from pathlib import Path

import pytest

from bot.settings import DEFAULT_SLACK_API_URL, SettingsError, load_settings

ORG = str(Path(__file__).parent / "data" / "organization.toml")
BASE = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cret", "KOHO_CONFIG": ORG}


def test_defaults_fill_everything_optional():
    settings = load_settings(BASE)
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL
    assert settings.database_url == "sqlite:///koho.db"
    assert settings.port == 3000
    assert settings.log_level == "INFO"
    assert settings.socket_mode is False
    assert settings.comment_webhook_secret is None


def test_a_missing_token_names_the_setting_and_where_to_get_it():
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "SLACK_BOT_TOKEN": ""})
    (problem,) = caught.value.problems
    assert "SLACK_BOT_TOKEN is not set" in problem
    assert "OAuth & Permissions" in problem


def test_every_problem_is_listed_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings({"PORT": "http", "LOG_LEVEL": "loud", "DATABASE_URL": "mysql://x/y", "KOHO_CONFIG": "/nope.toml"})
    text = "\n".join(caught.value.problems)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PORT", "LOG_LEVEL", "DATABASE_URL", "KOHO_CONFIG"):
        assert name in text


def test_socket_mode_needs_an_app_token_but_no_signing_secret():
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-A", "KOHO_CONFIG": ORG})
    assert settings.socket_mode
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN should start with 'xapp-'"):
        load_settings({**BASE, "SLACK_APP_TOKEN": "xoxb-wrong"})


def test_a_bot_token_of_the_wrong_kind_is_refused():
    with pytest.raises(SettingsError, match="should start with 'xoxb-'"):
        load_settings({**BASE, "SLACK_BOT_TOKEN": "xoxp-user-token"})


def test_api_url_gets_its_trailing_slash():
    assert load_settings({**BASE, "SLACK_API_URL": "http://127.0.0.1:9/api"}).slack_api_url == "http://127.0.0.1:9/api/"


def test_dotenv_is_read_but_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text(f"SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=file\nPORT=4000\nKOHO_CONFIG={ORG}\n")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "KOHO_CONFIG", "SLACK_APP_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "5000")
    settings = load_settings(dotenv_path=env_file)
    assert settings.slack_bot_token == "xoxb-from-file"
    assert settings.port == 5000


def test_hosting_platforms_postgres_urls_mean_psycopg_and_other_drivers_are_refused():
    for given in ("postgres://u@db:5432/koho", "postgresql://u@db:5432/koho"):
        assert load_settings({**BASE, "DATABASE_URL": given}).database_url == "postgresql+psycopg://u@db:5432/koho"
    with pytest.raises(SettingsError, match="postgresql\\+psycopg://"):
        load_settings({**BASE, "DATABASE_URL": "postgresql+psycopg2://u@db/koho"})


def test_a_proxy_to_slack_is_read_as_slack_sdk_reads_it_and_its_password_never_logged():
    settings = load_settings({**BASE, "HTTPS_PROXY": "http://koho:p%40ss@proxy.example.lg.jp:8080"})
    assert settings.slack_proxy == "http://koho:p%40ss@proxy.example.lg.jp:8080"
    assert {"p@ss", "p%40ss"} <= set(settings.secrets())  # as sent, and as written in the URL
    plain = load_settings({**BASE, "http_proxy": "proxy.example.lg.jp:8080"})
    assert plain.slack_proxy == "proxy.example.lg.jp:8080"
    assert plain.secrets() == load_settings(BASE).secrets()  # no credentials, nothing more to hide
    assert load_settings(BASE).slack_proxy is None


@pytest.mark.parametrize("proxy", ["ftp://koho:p%40ss@proxy:21", "http://koho:p%40ss@proxy:port", "http://"])
def test_a_proxy_that_is_not_an_http_proxy_is_refused_without_showing_its_password(proxy):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "HTTPS_PROXY": proxy})
    (problem,) = caught.value.problems
    assert problem.startswith("HTTPS_PROXY must be an HTTP proxy's URL")
    assert "p%40ss" not in problem and "p@ss" not in problem
