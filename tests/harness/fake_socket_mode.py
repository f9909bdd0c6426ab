"""Slack's Socket Mode on loopback: the WebSocket that `apps.connections.open` hands out.

Enough of RFC 6455 for slack_sdk's built-in client (which speaks plain TCP to any port but 443):
the opening handshake, text frames both ways (the client's are masked), ping answered with pong,
close. And Slack's side of Socket Mode: `hello` when a connection opens, envelopes sent with an
`envelope_id`, the app's acknowledgement coming back as `{"envelope_id": …, "payload": …}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import uuid
from typing import Any

from tests.harness.fake_slack import FakeSlack
from tests.harness.slack_requests import Response, SlackRequests

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def _frame(opcode: int, payload: bytes) -> bytes:
    """A server's frame: final, unmasked."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exactly(sock, 2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", _read_exactly(sock, 2))
    elif size == 127:
        (size,) = struct.unpack("!Q", _read_exactly(sock, 8))
    mask = _read_exactly(sock, 4) if second & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exactly(sock, size)))
    return first & 0x0F, payload


class FakeSocketMode:
    """One Socket Mode endpoint. `url` is what `apps.connections.open` answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Condition()
        self._connections: list[socket.socket] = []
        self.acks: dict[str, Any] = {}  # envelope_id -> the app's response payload (None: a bare ack)
        self._thread = threading.Thread(target=self._accept, name="fake-socket-mode", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket={uuid.uuid4().hex}"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def wait_connected(self, timeout: float = 10) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._connections, timeout):
                raise AssertionError(f"no Socket Mode connection within {timeout} s")

    def wait_disconnected(self, timeout: float = 10) -> None:
        """Until the app has closed every connection (as it does first when it stops)."""
        with self._lock:
            if not self._lock.wait_for(lambda: not self._connections, timeout):
                raise AssertionError(f"the app kept its Socket Mode connection beyond {timeout} s")

    def send(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Deliver an envelope on the newest connection, as Slack does; its id, to wait for the ack."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                    "accepts_response_payload": envelope_type != "events_api", "retry_attempt": 0}
        with self._lock:
            self._connections[-1].sendall(_frame(TEXT, json.dumps(envelope).encode()))
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> Any:
        with self._lock:
            if not self._lock.wait_for(lambda: envelope_id in self.acks, timeout):
                raise AssertionError(f"envelope {envelope_id} was not acknowledged within {timeout} s")
            return self.acks[envelope_id]

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                request += _read_exactly(connection, 1)
            headers = dict(line.split(":", 1) for line in request.decode().split("\r\n")[1:] if ":" in line)
            key = {k.strip().lower(): v.strip() for k, v in headers.items()}["sec-websocket-key"]
            accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
            connection.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode())
            hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0KOHO"}}
            with self._lock:
                connection.sendall(_frame(TEXT, json.dumps(hello).encode()))
                self._connections.append(connection)
                self._lock.notify_all()
            while True:
                opcode, payload = _read_frame(connection)
                if opcode == PING:
                    with self._lock:
                        connection.sendall(_frame(PONG, payload))
                elif opcode == TEXT:
                    message = json.loads(payload)
                    with self._lock:
                        self.acks[message["envelope_id"]] = message.get("payload")
                        self._lock.notify_all()
                elif opcode == CLOSE:
                    break
        except (ConnectionError, OSError):
            pass
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
            self._lock.notify_all()
        connection.close()


class SocketModeRequests(SlackRequests):
    """The requests `SlackRequests` builds, delivered as Socket Mode envelopes instead of signed HTTP posts.

    Each answers once the app has acknowledged its envelope: a 200 whose body is the ack's payload
    (`{}` for a bare ack), as Slack reads it.
    """

    def __init__(self, socket_mode: FakeSocketMode, fake: FakeSlack) -> None:
        super().__init__("http://socket-mode.invalid", "unused", fake=fake)
        self.socket_mode = socket_mode

    def _form(self, fields: dict[str, Any], extra_headers: dict[str, str] | None = None) -> Response:
        if "payload" in fields:
            return self._answer("interactive", json.loads(fields["payload"]))
        return self._answer("slash_commands", fields)

    def _answer(self, envelope_type: str, payload: dict[str, Any]) -> Response:
        ack = self.socket_mode.wait_ack(self.socket_mode.send(envelope_type, payload))
        return Response(200, {"content-type": "application/json"}, json.dumps(ack or {}))
