"""Slack's Web API (and `response_url`s) over kept-alive connections.

slack_sdk's `WebClient` sends each call through `urllib`, which opens a new connection for it and asks the
server to close it afterwards (`Connection: close`). In production that is a TCP and a TLS handshake with
slack.com before every post, update and modal: two more round trips on each call a person waits for (a
form opened with a trigger_id that lives 3 seconds, a card updated after a click), and the same again for
each notification of an emergency's fan-out.

`KeptAliveWebClient` keeps the connections and reuses them, one call at a time on each, and
`KeptAliveWebhookClient` does the same for the answers posted to a `response_url` (Bolt's `respond`). Only the hop from a
request slack_sdk has built to its answer is replaced: the request, its retry handlers, the 429s and the
response parsing stay slack_sdk's. The hop raises what urllib raises, so those retry handlers and Koho's
own error handling see the same things as before:

- `urllib.error.HTTPError` for an answer that is not 2xx (Slack's 429 with Retry-After, a 5xx);
- `urllib.error.URLError` when the request could not be sent (a refused connection, a reset);
- the socket's or `http.client`'s own error while the answer is awaited (a timeout, `RemoteDisconnected`).

Behind a proxy (a city's network may have one) an https call goes through a CONNECT tunnel, kept alive too:
urllib opened a tunnel, and a TLS session inside it, for every call.

A call is never sent twice by this module: a failure surfaces as it would have without it.

`http.client` (what urllib uses underneath) rather than urllib3: the errors above are exactly urllib's,
with no translation layer, and no dependency is added for ~100 lines.
"""

from __future__ import annotations

import base64
import http.client
import io
import select
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot.settings import proxy_parts

# Servers close idle connections (often after 60 s or more); one idle for longer than this is not reused,
# so a call rarely meets a connection the server is closing at that very moment.
IDLE_AT_MOST = 20.0
# Idle connections kept per host: one per thread that calls Slack at once (listeners, delivery workers).
KEEP_AT_MOST = 16

Key = tuple[str, str, int, str]  # scheme, host, port, the proxy ("" for none)


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle connection with something to read has been closed by the server (or sent something it
    should not have): either way it cannot carry a request."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # no limit on descriptor numbers, unlike select()
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed under us
        return True
    return bool(readable)


class ConnectionPool:
    """Idle connections per (scheme, host, port), the most recently used first. Thread-safe: a connection
    is used by one call at a time, taken from the pool and given back once its answer is read."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, keep_at_most: int = KEEP_AT_MOST,
                 idle_at_most: float = IDLE_AT_MOST, clock: Callable[[], float] = time.monotonic):
        self._ssl_context = ssl_context
        self._keep_at_most = keep_at_most
        self._idle_at_most = idle_at_most
        self._clock = clock
        self._idle: dict[Key, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()

    def send(self, request: Request, timeout: float | None,
             proxy: str | None = None) -> tuple[http.client.HTTPResponse, bytes]:
        """Sends `request` and reads its whole answer: (the response, its body). `proxy`: an HTTP proxy's
        URL (`http://[user:password@]host:port`) to tunnel an https request through (CONNECT), as urllib does."""
        url = urlsplit(request.full_url)
        scheme = url.scheme.lower()
        if scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {request.full_url!r}")
        if proxy is not None and scheme != "https":
            raise ValueError("only https is tunnelled through a proxy")
        key = (scheme, url.hostname, url.port or (443 if scheme == "https" else 80), proxy or "")
        connection = self._take(key) or self._open(key, timeout)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        try:
            connection.request(request.get_method(), path, body=request.data, headers=dict(request.header_items()))
        except OSError as e:  # as urllib: the request could not be sent
            connection.close()
            raise URLError(e) from e
        try:
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(key, connection)
        return response, body

    def idle(self) -> int:
        """How many connections wait in the pool for a call (of every host)."""
        with self._lock:
            return sum(len(connections) for connections in self._idle.values())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                connection.close()

    def _open(self, key: Key, timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port, proxy = key
        if scheme != "https":
            return http.client.HTTPConnection(host, port, timeout=timeout)
        if self._ssl_context is None:  # the machine's authorities, loaded once (urllib loaded them per call)
            self._ssl_context = ssl.create_default_context()
        context = self._ssl_context
        if not proxy:
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        # The connection goes to the proxy, which opens a tunnel to Slack; TLS runs inside it, to Slack.
        via = proxy_parts(proxy)
        connection = http.client.HTTPSConnection(via.hostname, via.port, timeout=timeout, context=context)
        headers = {}
        if via.username is not None:  # as urllib's ProxyHandler: Basic, from the URL's user and password
            credentials = f"{unquote(via.username)}:{unquote(via.password or '')}"
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
        connection.set_tunnel(host, port, headers=headers)
        return connection

    def _take(self, key: Key) -> http.client.HTTPConnection | None:
        now = self._clock()
        stale = []
        found = None
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                connection, since = idle.pop()
                if now - since <= self._idle_at_most and not _closed_by_peer(connection):
                    found = connection
                    break
                stale.append(connection)
        for connection in stale:
            connection.close()
        return found

    def _give_back(self, key: Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._keep_at_most:
                idle.append((connection, self._clock()))
                return
        connection.close()


class KeptAliveWebClient(WebClient):
    """slack_sdk's `WebClient`, its calls sent over kept-alive connections (see the module's docstring).
    With a proxy configured (`proxy=`, or HTTPS_PROXY / HTTP_PROXY, which slack_sdk reads), an https call
    goes through a kept-alive CONNECT tunnel, where urllib opened a tunnel per call; a plain-http one
    (only ever a test's fake Slack) goes through urllib, as before."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pool = ConnectionPool(ssl_context=self.ssl)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not _kept_alive(url, self.proxy):
            return super()._perform_urllib_http_request_internal(url, req)
        response, body = _send(self.pool, url, req, self.timeout, self.proxy)
        headers = response.headers
        if headers.get_content_type() == "application/gzip":  # admin.analytics.getFile, as slack_sdk does
            return {"status": response.status, "headers": headers, "body": body}
        return {"status": response.status, "headers": headers, "body": body.decode(headers.get_content_charset() or "utf-8")}


class KeptAliveWebhookClient(WebhookClient):
    """slack_sdk's `WebhookClient` (what Bolt's `respond` posts to a `response_url` with), sent over `pool`:
    a web client's, so an approver's "approved" does not wait for a handshake with Slack's hooks either.
    One is made per answer, as Bolt makes its own; the connections outlive it, in the pool."""

    def __init__(self, url: str, *, pool: ConnectionPool, **kwargs: Any):
        super().__init__(url, **kwargs)
        self.pool = pool

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        if not _kept_alive(url, self.proxy):
            return super()._perform_http_request_internal(url, req)
        response, body = _send(self.pool, url, req, self.timeout, self.proxy)
        return WebhookResponse(url=url, status_code=response.status, headers=response.headers,  # type: ignore[arg-type]
                               body=body.decode(response.headers.get_content_charset() or "utf-8"))


def _kept_alive(url: str, proxy: str | None) -> bool:
    """Whether the pool carries a call to `url`: an http(s) one, except plain http through a proxy (urllib's)."""
    https = url.lower().startswith("https://")
    return (https or url.lower().startswith("http://")) and (proxy is None or https)


def _send(pool: ConnectionPool, url: str, req: Request, timeout: float | None,
          proxy: str | None) -> tuple[http.client.HTTPResponse, bytes]:
    response, body = pool.send(req, timeout, proxy=proxy)
    if not 200 <= response.status < 300:  # as urllib: slack_sdk reads the status, headers and body from it
        raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
    return response, body
