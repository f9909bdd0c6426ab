"""The framework's floor: a bare Bolt app that only acks, served exactly like Koho (waitress, 16 threads).

Usage: python -m bench.bare_bolt PORT SLACK_API_URL SIGNING_SECRET
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from waitress import serve


def main() -> None:
    port, api_url, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = App(signing_secret=secret, client=WebClient(token="xoxb-test-token", base_url=api_url),
              listener_executor=ThreadPoolExecutor(max_workers=16))

    @app.command("/propose-post")
    def command(ack):  # noqa: ANN001
        ack()

    @app.action("proposal_approve")
    def action(ack):  # noqa: ANN001
        ack()

    @app.view("proposal_form")
    def view(ack):  # noqa: ANN001
        ack()

    slack = SlackRequestHandler(app)

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return slack(environ, start_response)

    serve(wsgi, host="127.0.0.1", port=port, threads=16, _quiet=True)


if __name__ == "__main__":
    main()
