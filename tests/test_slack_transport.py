"""Koho keeps its connections to Slack open and reuses them (`bot.slack_transport`), and fails exactly as
slack_sdk's own client does: the retry handlers, the 429s and Koho's error handling see the same things."""

import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bench.harness import free_port
from bench.slack_calls import certificate
from bot.app import make_web_client
from bot.playground.fake_slack import FakeSlack
from bot.settings import load_settings
from bot.slack_transport import ConnectionPool, KeptAliveWebClient, KeptAliveWebhookClient
from tests.comments_support import settle
from tests.emergency_support import EMERGENCY_CHANNEL, approve_routine, propose
from tests.harness.tcp_proxy import ConnectProxy
from tests.harness.waiting import wait_until

TOKEN = "xoxb-test-token"
ORG = str(Path(__file__).parent / "data" / "organization.toml")


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


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the fake's server context, a client context that trusts its throwaway certificate). Clients made
    without a context trust it too (SSL_CERT_FILE), as the bot's trust the authorities of its machine."""
    pair = certificate(tmp_path)
    if pair is None:
        pytest.skip("the openssl command is needed to make a throwaway certificate")
    key, cert = pair
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return server, ssl.create_default_context(cafile=str(cert))


def test_over_tls_as_in_production_the_connection_is_kept_and_verified(tls) -> None:
    server, trusting = tls
    with FakeSlack(bot_token=TOKEN, tls=server) as fake:
        assert fake.api_url.startswith("https://")
        client = kept_alive(fake, ssl=trusting)
        for n in range(5):
            assert client.chat_postMessage(channel="C1", text=f"お知らせ {n}")["ok"]
        assert fake.connections_opened == 1
        untrusting = kept_alive(fake, ssl=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))  # verifies, trusts nobody
        with pytest.raises(URLError) as raised:  # as urllib says it
            untrusting.chat_postMessage(channel="C1", text="x")
        assert isinstance(raised.value.reason, ssl.SSLCertVerificationError)
        assert len(fake.messages("C1")) == 5


@pytest.mark.parametrize(("client_class", "tunnels"), [(WebClient, 3), (KeptAliveWebClient, 1)])
def test_behind_a_citys_proxy_calls_go_through_its_tunnel(
        tls, monkeypatch: pytest.MonkeyPatch, client_class: type[WebClient], tunnels: int) -> None:
    """HTTPS_PROXY with credentials, as a city's network may require: urllib opens a tunnel (and a TLS
    session in it) per call; Koho's client keeps one. Slack's certificate is checked inside the tunnel."""
    server, trusting = tls
    with FakeSlack(bot_token=TOKEN, tls=server) as fake, ConnectProxy(require="koho:p@ss") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://koho:p%40ss@127.0.0.1:{proxy.port}")
        client = client_class(base_url=fake.api_url, token=TOKEN, ssl=trusting)
        for n in range(3):
            assert client.chat_postMessage(channel="C1", text=f"お知らせ {n}")["ok"]
        assert len(proxy.tunnels) == tunnels
        assert {target for target, _ in proxy.tunnels} == {f"127.0.0.1:{fake.port}"}
        assert fake.connections_opened == tunnels
        assert [m["text"] for m in fake.messages("C1")] == ["お知らせ 0", "お知らせ 1", "お知らせ 2"]


def test_the_bot_reaches_slack_through_the_proxy_in_its_settings(tls) -> None:
    server, _ = tls
    with FakeSlack(bot_token=TOKEN, tls=server) as fake, ConnectProxy() as proxy:
        settings = load_settings({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "s", "KOHO_CONFIG": ORG,
                                  "SLACK_API_URL": fake.api_url, "HTTPS_PROXY": f"127.0.0.1:{proxy.port}"})
        client = make_web_client(settings)
        for n in range(3):
            assert client.chat_postMessage(channel="C1", text=f"お知らせ {n}")["ok"]
        assert len(proxy.tunnels) == 1


@pytest.mark.parametrize("client_class", [WebClient, KeptAliveWebClient])
def test_a_proxy_refusing_the_tunnel_is_a_url_error(
        tls, monkeypatch: pytest.MonkeyPatch, client_class: type[WebClient]) -> None:
    server, trusting = tls
    with FakeSlack(bot_token=TOKEN, tls=server) as fake, ConnectProxy(require="koho:secret") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://koho:wrong@127.0.0.1:{proxy.port}")
        client = client_class(base_url=fake.api_url, token=TOKEN, ssl=trusting)
        with pytest.raises(URLError, match="407"):
            client.chat_postMessage(channel="C1", text="x")
        assert fake.messages("C1") == []


def test_plain_http_behind_a_proxy_goes_through_urllib_as_before(fake: FakeSlack,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a fake Slack is reached over plain http; through a proxy such calls go as slack_sdk sends them
    (the full URL to the proxy). The fake serves as the proxy here."""
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
    port = free_port()  # nobody listens on it
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


# -- response_url answers, as slack_sdk's own webhook client sends them ---------------------------------


def webhook_client(client_class: type[WebhookClient], url: str, pool: ConnectionPool) -> WebhookClient:
    return client_class(url, pool=pool) if client_class is KeptAliveWebhookClient else client_class(url)


@pytest.mark.parametrize("client_class", [WebhookClient, KeptAliveWebhookClient])
def test_answers_to_a_response_url_and_its_refusals(fake: FakeSlack, client_class: type[WebhookClient]) -> None:
    pool = ConnectionPool()
    for n in range(3):
        answer = webhook_client(client_class, fake.response_url(channel="C1"), pool).send(text=f"承認しました {n}")
        assert answer.status_code == 200 and json.loads(answer.body) == {"ok": True}
    gone = webhook_client(client_class, fake.response_url(channel="C1") + "-expired", pool).send(text="x")
    assert gone.status_code == 404 and json.loads(gone.body)["error"] == "no_such_response_url"  # an answer, not an error
    connections = {call.connection for call in fake.calls_to("response_url")}
    assert len(connections) == (1 if client_class is KeptAliveWebhookClient else 4), connections


@pytest.mark.parametrize("client_class", [WebhookClient, KeptAliveWebhookClient])
def test_a_response_url_nobody_answers_is_a_url_error(client_class: type[WebhookClient]) -> None:
    port = free_port()  # nobody listens on it
    with pytest.raises(URLError):
        webhook_client(client_class, f"http://127.0.0.1:{port}/hooks/x", ConnectionPool()).send(text="x")


# -- the running bot -----------------------------------------------------------------------------------


def test_the_bot_reuses_its_connections_through_a_whole_approval(koho) -> None:
    approve_routine(koho, propose(koho))
    settle(koho)
    calls = len(koho.fake.calls)
    assert calls > 10
    # Slack's calls (posts, updates, DMs, App Homes) over a handful of connections, not one each.
    assert koho.fake.connections_opened <= calls / 3, (koho.fake.connections_opened, calls)


def test_listeners_open_forms_over_the_apps_kept_connections(koho) -> None:
    """A listener's `client` is the app's kept-alive one, not the plain `WebClient` Bolt builds per request,
    which opens a connection (a TLS handshake, in production) for each form, while its trigger_id ticks."""
    for n in range(1, 6):
        assert koho.slack.command("/propose-post", "", user_id="U0STAFF1").status == 200
        koho.fake.wait_for("views.open", count=n)
        # The fake records a call as it arrives; the connection is back in the pool once the bot has read the
        # answer. The next command waits for that, or its form would rightly need a second connection.
        wait_until(lambda: koho.app.client.pool.idle() >= 1)
    forms = koho.fake.calls_to("views.open")
    assert len(forms) == 5 and all(call.connection for call in forms)
    assert len({call.connection for call in forms}) == 1, [call.connection for call in forms]


def test_answers_to_a_response_url_go_over_kept_connections(koho) -> None:
    """`respond` (an approver's "approved", an emergency's status) posts over the app client's kept connections,
    where Bolt's own made a new `WebhookClient`, and so a new connection, for every answer."""
    for n in range(1, 4):
        assert koho.slack.command("/emergency", "status", user_id="U0STAFF1", channel_id=EMERGENCY_CHANNEL).status == 200
        koho.fake.wait_for("response_url", count=n)
        wait_until(lambda: koho.app.client.pool.idle() >= 1)  # the answer read, the connection given back
    answers = koho.fake.calls_to("response_url")
    assert len(answers) == 3 and all(call.ok and call.connection for call in answers), answers
    assert len({call.connection for call in answers}) == 1, [call.connection for call in answers]
