"""Koho keeps its connections to Slack open and reuses them (`bot.slack_transport`), and fails exactly as
slack_sdk's own client does: the retry handlers, the 429s and Koho's error handling see the same things."""

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

from bench.slack_calls import certificate
from bot.playground.fake_slack import FakeSlack
from bot.slack_transport import KeptAliveWebClient
from tests.comments_support import settle
from tests.emergency_support import approve_routine, propose

TOKEN = "xoxb-test-token"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=TOKEN) as server:
        yield server


def kept_alive(fake: FakeSlack, **kwargs) -> KeptAliveWebClient:
    return KeptAliveWebClient(base_url=fake.api_url, token=TOKEN, **kwargs)


def test_calls_one_after_another_share_one_connection(fake: FakeSlack) -> None:
    client = kept_alive(fake)
    for n in range(20):
        assert client.chat_postMessage(channel="C1", text=f"お知らせ {n}")["ok"]
    assert fake.connections_opened == 1
    assert [m["text"] for m in fake.messages("C1")] == [f"お知らせ {n}" for n in range(20)]


def test_slack_sdks_own_client_opens_one_connection_per_call(fake: FakeSlack) -> None:
    """What the kept-alive client saves: with urllib, every call is a new connection (TLS, in production)."""
    client = WebClient(base_url=fake.api_url, token=TOKEN)
    for n in range(5):
        client.chat_postMessage(channel="C1", text=f"お知らせ {n}")
    assert fake.connections_opened == 5


def test_calls_at_once_each_get_a_connection_and_keep_it(fake: FakeSlack) -> None:
    fake.latency = 0.2  # the calls overlap
    client = kept_alive(fake)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def post(n: int) -> None:
        try:
            barrier.wait()
            for k in range(3):
                client.chat_postMessage(channel=f"C{n}", text=f"{n}-{k}")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert [len(fake.messages(f"C{n}")) for n in range(4)] == [3, 3, 3, 3]
    assert fake.connections_opened == 4  # one per caller at once, each kept for its next calls


def test_a_connection_the_server_closed_is_not_reused(fake: FakeSlack) -> None:
    client = kept_alive(fake)
    client.chat_postMessage(channel="C1", text="一通目")
    fake.drop_connections()  # Slack closes the idle connection
    assert client.chat_postMessage(channel="C1", text="二通目")["ok"]
    assert fake.connections_opened == 2
    assert [m["text"] for m in fake.messages("C1")] == ["一通目", "二通目"]  # each once


def test_a_connection_idle_too_long_is_not_reused(fake: FakeSlack) -> None:
    now = [0.0]
    client = kept_alive(fake)
    client.pool._clock = lambda: now[0]
    client.chat_postMessage(channel="C1", text="一通目")
    now[0] += 10
    client.chat_postMessage(channel="C1", text="二通目")
    assert fake.connections_opened == 1
    now[0] += 60  # longer than a server may keep it
    client.chat_postMessage(channel="C1", text="三通目")
    assert fake.connections_opened == 2


def test_a_timed_out_call_leaves_no_connection_behind(fake: FakeSlack) -> None:
    """The late answer must never be read as the next call's."""
    client = kept_alive(fake, timeout=1)
    client.chat_postMessage(channel="C1", text="一通目")
    fake.hang("chat.postMessage", seconds=1.5)
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel="C1", text="二通目")
    answer = client.chat_postMessage(channel="C1", text="三通目")
    assert answer["message"]["text"] == "三通目"
    assert fake.connections_opened == 2


def test_over_tls_as_in_production_the_connection_is_kept_and_verified(tmp_path: Path) -> None:
    pair = certificate(tmp_path)
    if pair is None:
        pytest.skip("the openssl command is needed to make a throwaway certificate")
    key, cert = pair
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    with FakeSlack(bot_token=TOKEN, tls=server) as fake:
        assert fake.api_url.startswith("https://")
        client = kept_alive(fake, ssl=ssl.create_default_context(cafile=str(cert)))
        for n in range(5):
            assert client.chat_postMessage(channel="C1", text=f"お知らせ {n}")["ok"]
        assert fake.connections_opened == 1
        untrusting = kept_alive(fake)  # the system's authorities only: a self-signed server is refused
        with pytest.raises(URLError) as raised:  # as urllib says it
            untrusting.chat_postMessage(channel="C1", text="x")
        assert isinstance(raised.value.reason, ssl.SSLCertVerificationError)
        assert len(fake.messages("C1")) == 5


def test_behind_a_proxy_calls_go_through_urllib_as_before(fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk reads HTTPS_PROXY / HTTP_PROXY (a city's network often has one); through a proxy Koho's
    client sends each call as slack_sdk does. The fake serves as the proxy here: it is sent the full URL."""
    monkeypatch.setenv("HTTP_PROXY", fake.base_url)
    client = kept_alive(fake)
    assert client.proxy == fake.base_url
    for n in range(3):
        assert client.chat_postMessage(channel="C1", text=f"お知らせ {n}")["ok"]
    assert fake.connections_opened == 3  # one per call, as urllib does
    assert len(fake.messages("C1")) == 3


# -- failing as slack_sdk's own client does --------------------------------------------------------------


@pytest.mark.parametrize("client_class", [WebClient, KeptAliveWebClient])
def test_a_429_is_a_slack_api_error_with_retry_after(fake: FakeSlack, client_class: type[WebClient]) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7)
    client = client_class(base_url=fake.api_url, token=TOKEN)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert int(raised.value.response.headers["Retry-After"]) == 7
    assert client.chat_postMessage(channel="C1", text="y")["ok"]  # the connection still serves


@pytest.mark.parametrize("client_class", [WebClient, KeptAliveWebClient])
def test_retry_handlers_see_429s_and_5xx(fake: FakeSlack, client_class: type[WebClient]) -> None:
    fake.rate_limit("chat.postMessage", retry_after=0)
    fake.fail("chat.update", status=503)
    client = client_class(base_url=fake.api_url, token=TOKEN, retry_handlers=[
        RateLimitErrorRetryHandler(max_retry_count=1), ServerErrorRetryHandler(max_retry_count=1)])
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    assert client.chat_update(channel="C1", ts=ts, text="y")["ok"]
    assert [(c.method, c.status) for c in fake.calls] == [
        ("chat.postMessage", 429), ("chat.postMessage", 200), ("chat.update", 503), ("chat.update", 200)]


@pytest.mark.parametrize("client_class", [WebClient, KeptAliveWebClient])
def test_a_refused_connection_is_a_url_error(client_class: type[WebClient]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_class(base_url=f"http://127.0.0.1:{port}/api/", token=TOKEN)
    with pytest.raises(URLError):
        client.chat_postMessage(channel="C1", text="x")


@pytest.mark.parametrize("client_class", [WebClient, KeptAliveWebClient])
def test_a_plain_slack_error_is_a_slack_api_error(fake: FakeSlack, client_class: type[WebClient]) -> None:
    fake.fail("chat.postMessage", status=200, error="not_in_channel")
    client = client_class(base_url=fake.api_url, token=TOKEN)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response["error"] == "not_in_channel"


# -- the running bot -----------------------------------------------------------------------------------


def test_the_bot_reuses_its_connections_through_a_whole_approval(koho) -> None:
    approve_routine(koho, propose(koho))
    settle(koho)
    calls = len(koho.fake.calls)
    assert calls > 10
    # Slack's calls (posts, updates, DMs, App Homes) over a handful of connections, not one each.
    assert koho.fake.connections_opened <= calls / 3, (koho.fake.connections_opened, calls)
