"""`kill -9` of `python -m bot` while it is posting to Slack: the restarted process finishes every
delivery, and what Slack already had is recorded, not posted again."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import select

from bot.db import Database
from bot.models import OutboxItem, SlackMessage
from tests.comments_support import comment, post_webhook
from tests.conftest import ROOT, test_environ
from tests.test_cli import clean_environ, free_port, run_bot, wait_until_healthy


class _Target:
    def __init__(self, url):
        self.url = url


def start_bot(env, log_path):
    with log_path.open("a") as log:
        return subprocess.Popen([sys.executable, "-m", "bot"], env=env, cwd=ROOT, stdout=log, stderr=log)


def outbox_items(db):
    with db.read() as session:
        return session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()


def test_a_bot_killed_mid_delivery_finishes_after_restart_without_duplicates(db_url, fake_slack, tmp_path):
    port = free_port()
    # A 2-second lease: the restarted process may take over the dead one's claims 2 s after they were made.
    env = {**clean_environ(), **test_environ(fake_slack, db_url, PORT=str(port), KOHO_DELIVERY_LEASE_SECONDS="2")}
    if db_url.startswith("postgresql"):
        assert run_bot("migrate", env=env).returncode == 0
    log_path = tmp_path / "bot.log"
    bot = start_bot(env, log_path)
    target = _Target(f"http://127.0.0.1:{port}")
    try:
        wait_until_healthy(f"{target.url}/healthz", bot)
        # Slack will take 1.5 s over the first post, and store it even though nobody waits by then.
        fake_slack.hang("chat.postMessage", seconds=1.5, count=1)
        for n in range(3):
            status, _ = post_webhook(target, comment(f"粗大ゴミの回収日を教えてください（{n}）"))
            assert status == 202
        fake_slack.wait_for_arrival("chat.postMessage")
        os.kill(bot.pid, signal.SIGKILL)  # mid-delivery: Slack is storing the post, we never hear back
        bot.wait(timeout=10)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()

    db = Database(db_url)
    try:
        before = outbox_items(db)
        assert [i.status for i in before].count("pending") >= 1  # the crash really left work undone

        restarted = start_bot(env, log_path)
        try:
            wait_until_healthy(f"{target.url}/healthz", restarted)
            deadline = time.monotonic() + 20
            while any(i.status == "pending" for i in outbox_items(db)):
                assert time.monotonic() < deadline, [(i.id, i.status, i.last_error) for i in outbox_items(db)]
                time.sleep(0.1)
        finally:
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=15) == 0

        items = outbox_items(db)
        assert {i.status for i in items} == {"delivered"}
        posted = Counter(c.args["metadata"]["event_payload"]["outbox_id"]
                         for c in fake_slack.calls_to("chat.postMessage") if c.ok and c.args.get("metadata"))
        posts = [i for i in items if i.action in ("post", "dm") and "ts" in (i.result or {})]
        assert sorted(posted) == sorted(i.id for i in posts)
        assert set(posted.values()) == {1}, f"posted twice after the restart: {posted}"
        assert any((i.result or {}).get("recovered") for i in items)  # the interrupted post was found, not redone
        with db.read() as session:
            for item in posts:  # and each is remembered where it is, for later updates
                where = session.get(SlackMessage, item.message_key)
                assert fake_slack.message(where.channel, where.ts) is not None
    finally:
        db.dispose()
    assert "Traceback" not in log_path.read_text()
