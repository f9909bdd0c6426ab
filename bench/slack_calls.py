"""What one Slack Web API call costs the bot: a new connection per call (slack_sdk's `WebClient`, through
urllib) against a kept-alive one (`bot.slack_transport.KeptAliveWebClient`), over HTTP, over TLS, and over
TLS through an HTTP proxy (a CONNECT tunnel: the tests' `ConnectProxy`).

    python -m bench.slack_calls [--calls 1000] [--forms 300]

Then, over TLS, the same through the running bot (`python -m bot serve` on SQLite, trusting the throwaway
certificate through SSL_CERT_FILE): `--forms` `/propose-post` commands from 1 and from 10 clients at once,
each timed from the command sent to its form's `views.open` answered by the fake, with the bot's CPU per
command (the ack, the form, its `views.open`) and the connections the fake saw opened meanwhile.

Each call is a `chat.postMessage` of an approval request's size to the fake Slack on loopback, one after
another from one thread. CPU is the calling thread's own (the bot's share; the fake's is not counted);
wall time includes the fake's. Loopback has no round-trip time: on a real network a new TLS 1.3
connection costs two more round trips than a kept-alive one (TCP's handshake and TLS's), which this
cannot show; through a proxy, a third (the CONNECT). TLS uses a throwaway self-signed certificate (P-256), made with the `openssl` command; without
it only HTTP is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.playground.fake_slack import FakeSlack
from bot.slack_transport import KeptAliveWebClient
from tests.harness.tcp_proxy import ConnectProxy

TOKEN = "xoxb-test-token"
WARM_UP = 50
# About an approval request's size: a header, the post's text, a few fields, two buttons.
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "承認依頼 " + "本文" * 100}}] * 6


def certificate(directory: Path) -> tuple[Path, Path] | None:
    if shutil.which("openssl") is None:
        return None
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


def measure(client: WebClient, fake: FakeSlack, calls: int) -> tuple[float, float, int]:
    """(CPU ms per call of the calling thread, wall ms per call, connections opened)."""
    for _ in range(WARM_UP):
        client.chat_postMessage(channel="C1", text="warm-up", blocks=BLOCKS)
    opened = fake.connections_opened
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(calls):
        client.chat_postMessage(channel="C1", text="承認依頼", blocks=BLOCKS)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return cpu / calls * 1000, wall / calls * 1000, fake.connections_opened - opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--forms", type=int, default=300, help="/propose-post through the bot over TLS (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        pair = certificate(Path(directory))
        transports: list[tuple[str, ssl.SSLContext | None, ssl.SSLContext | None, bool]] = [
            ("HTTP", None, None, False)]
        if pair is None:
            print("openssl not found: TLS is not measured")
        else:
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.load_cert_chain(pair[1], pair[0])
            client = ssl.create_default_context(cafile=str(pair[1]))
            transports += [("TLS", server, client, False), ("TLS through a proxy", server, client, True)]
        print(f"{args.calls} chat.postMessage calls, one after another, after {WARM_UP} not counted\n")
        print("| transport | client | CPU per call (ms) | wall per call (ms) | connections opened |")
        print("|---|---|---|---|---|")
        for name, server_context, client_context, proxied in transports:
            with FakeSlack(bot_token=TOKEN, tls=server_context) as fake, ConnectProxy() as proxy:
                for client_class in (WebClient, KeptAliveWebClient):
                    client = client_class(base_url=fake.api_url, token=TOKEN, ssl=client_context,
                                          proxy=f"http://127.0.0.1:{proxy.port}" if proxied else None)
                    cpu, wall, opened = measure(client, fake, args.calls)
                    print(f"| {name} | {client_class.__name__} | {cpu:.3f} | {wall:.3f} | {opened:,} |")
        if pair is not None and args.forms:
            forms_over_tls(pair[1], server, args.forms)


def opening_one_of(triggers: set[str]) -> Callable[[Any], bool]:
    return lambda call: call.args.get("trigger_id") in triggers


def forms_over_tls(cert: Path, server: ssl.SSLContext, count: int) -> None:
    from bench.cases import ack_requests, form_series, forms_answered
    from bench.harness import bot_on, load

    os.environ["SSL_CERT_FILE"] = str(cert)  # the bot's processes inherit it: they trust the fake's certificate
    print(f"\n{count} /propose-post through the bot, over TLS, after 20 not counted\n")
    print("| clients | ack p50 | ack p99 | form opened p50 | form opened p99 | bot CPU per command (ms) "
          "| connections opened |")
    print("|---|---|---|---|---|---|---|")
    with FakeSlack(bot_token=TOKEN, tls=server) as fake, bot_on("sqlite", fake, with_workers=False) as bot:
        for clients in (1, 10):
            sent: list[tuple[str, float]] = []
            propose = ack_requests(bot.slack, {}, [], sent)["/propose-post"]
            load(20, clients, propose)
            del sent[:]
            opened, cpu = fake.connections_opened, bot.cpu_seconds()
            acks = load(count, clients, propose)
            fake.wait_for("views.open", count=len(sent), predicate=opening_one_of({trigger for trigger, _ in sent}))
            cpu = bot.cpu_seconds() - cpu
            forms = form_series(forms_answered(fake), sent)
            print(f"| {clients} | {acks.p50:.1f} | {acks.pct(99):.1f} | {forms.p50:.1f} | {forms.pct(99):.1f} "
                  f"| {cpu / count * 1000:.2f} | {fake.connections_opened - opened:,} |")


if __name__ == "__main__":
    main()
