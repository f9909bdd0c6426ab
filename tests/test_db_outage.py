"""PostgreSQL goes away while the bot runs, then comes back.

Why a proxy and not a restart: the PostgreSQL server at 127.0.0.1:5432 is shared by every test run
on the machine (each in its own schema); restarting it would break other people's tests. The bot
talks to it through `tests/harness/tcp_proxy.py` instead, and the test cuts the proxy: every pooled
connection dies mid-use and new ones fail, which is what the bot sees when the server restarts.

During the outage every request gets a polite answer (the database-outage message in the person's
place, 503 for /healthz and the webhook), nothing is half-written, and after the restore the same
process carries on without being restarted: a pooled connection that lay idle is pinged before use
and replaced if dead; one used at once fails its statement, which discards the pool (tests/test_db.py).
"""

import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from bot import migrate
from bot.db import Database
from bot.models import AuditEvent, OutboxItem
from bot.workflows.comments.models import Comment
from bot.workflows.proposals.models import ApprovalStep, Proposal
from tests.comments_support import comment, post_webhook, settle
from tests.conftest import running_koho
from tests.emergency_support import open_declare_modal, propose, request_for
from tests.harness.tcp_proxy import proxied
from tests.test_proposals import form_values, open_form

OUTAGE_JA = "データベースに接続できません"


@pytest.fixture
def outage(db_url, fake_slack, clock, org):
    if not db_url.startswith("postgresql"):
        pytest.skip("a database server going away needs a server: PostgreSQL only")
    direct = Database(db_url)  # the test's own view of the database, around the proxy
    migrate.upgrade(direct)
    with proxied(db_url) as (proxied_url, proxy):
        db = Database(proxied_url)
        try:
            with running_koho(fake_slack, db, proxied_url, clock, org) as koho:
                yield koho, proxy, direct
        finally:
            db.dispose()
    direct.dispose()


def healthz(koho):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{koho.url}/healthz", timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def snapshot(db):
    """Everything a request could half-write."""
    with db.read() as session:
        return {
            "proposals": session.scalar(select(func.count()).select_from(Proposal)),
            "steps": sorted(session.execute(select(ApprovalStep.id, ApprovalStep.status)).all()),
            "comments": session.scalar(select(func.count()).select_from(Comment)),
            "audit": session.scalar(select(func.count()).select_from(AuditEvent)),
            "outbox": session.scalar(select(func.count()).select_from(OutboxItem)),
        }


def outage_messages(koho):
    """The outage message wherever the bot put it: ephemerals by response_url, or a pushed error modal."""
    said = [c.args.get("text", "") for c in koho.fake.calls_to("response_url")]
    return [t for t in said if OUTAGE_JA in t]


def test_an_outage_is_answered_politely_nothing_is_half_written_and_the_bot_recovers_by_itself(outage):
    koho, proxy, direct = outage
    proposal_id = propose(koho, "U0STAFF1")
    request = request_for(koho, "C0KANKYO", proposal_id)
    form = open_form(koho, "U0STAFF2")
    declare_modal = open_declare_modal(koho, "U0ONCALL1")
    settle(koho)
    before = snapshot(direct)

    proxy.cut()
    assert healthz(koho) == 503

    # A click: acknowledged, then the person is told in their place that nothing was saved.
    assert koho.slack.block_action("U0KANKYOHEAD", "proposal_approve", message=request).status == 200
    koho.fake.wait_for("response_url", predicate=lambda c: OUTAGE_JA in c.args.get("text", ""))

    # A form submission: the answer itself says so (the modal stays open, its text is not lost).
    answer = koho.slack.view_submission("U0STAFF2", form, form_values())
    assert answer.status == 200
    pushed = json.loads(answer.body)
    assert pushed["response_action"] == "push" and OUTAGE_JA in json.dumps(pushed, ensure_ascii=False)
    answer = koho.slack.view_submission("U0ONCALL1", declare_modal, {
        "emergency_type": {"emergency_type": "earthquake"}, "emergency_title": {"emergency_title": "震度5強"},
        "emergency_mode": {"emergency_mode": "real"}}, strict=False)
    assert answer.status == 200 and OUTAGE_JA in json.dumps(json.loads(answer.body), ensure_ascii=False)

    # A slash command: an ephemeral answer, never a 500.
    answer = koho.slack.command("/propose-post", "", user_id="U0STAFF3")
    assert answer.status == 200

    # The monitoring tool is told to send the comment again later.
    status, body = post_webhook(koho, payload := comment("粗大ゴミの回収日を教えてください"))
    assert status == 503 and "again later" in body["error"]

    proxy.restore()
    assert snapshot(direct) == before  # nothing half-written
    assert healthz(koho) == 200  # the same process, no restart: dead pooled connections were replaced

    assert koho.slack.block_action("U0KANKYOHEAD", "proposal_approve", message=request).status == 200
    koho.fake.wait_for("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok)
    assert post_webhook(koho, payload)[0] == 202
    settle(koho)
    with direct.read() as session:
        step = session.scalars(select(ApprovalStep).where(ApprovalStep.proposal_id == proposal_id)
                               .order_by(ApprovalStep.id)).first()
    assert (step.status, step.decided_by) == ("approved", "U0KANKYOHEAD")
    assert proxy.refused > 0  # the bot really tried to reach the database during the outage
