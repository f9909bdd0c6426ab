"""A department channel that can no longer take messages (archived, deleted, the bot removed): the comments
Slack refused there go to the PR office's triage at once, with a notice saying which channel and why — not
left `routed` to a dead channel until the escalation a day and a half later. Signed webhooks, fake Slack,
SQLite and PostgreSQL."""

import json
from datetime import timedelta

from sqlalchemy import select

from bot.handlers.comment_ids import CommentAction
from bot.i18n import Translator
from bot.models import AuditEvent, OutboxItem
from bot.views import RENDERERS, RenderContext
from bot.workflows.comments.models import Comment
from tests.comments_support import button, message_showing, message_with, receive, settle, texts
from tests.test_comments_shared_channels import deliver_all


def stored(koho, comment_id):
    with koho.db.read() as session:
        return session.get(Comment, comment_id)


def undeliverable_events(koho, comment_id):
    with koho.db.read() as session:
        return [(e.actor, e.from_state, e.to_state, e.reason, e.details["from_department"]) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "comment", AuditEvent.subject_id == str(comment_id),
                                     AuditEvent.action == "comment.undeliverable"))]


def in_english(koho, view):
    """The newest message of this view as an `en` organisation would read it."""
    with koho.db.read() as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.view == view).order_by(OutboxItem.id.desc())).first()
        ctx = RenderContext(session=session, tr=Translator("en"), org=koho.services.org, now=koho.clock.now())
        return json.dumps(RENDERERS[view](ctx, item.ref), ensure_ascii=False)


def test_a_comment_refused_by_an_archived_department_channel_is_triaged_by_the_pr_office(koho):
    koho.fake.fail("chat.postMessage", 200, error="is_archived", channel="C0KANKYO")
    comment_id = receive(koho, "粗大ゴミの回収日を教えてください")

    triage = message_showing(koho, "C0PR", comment_id)
    shown = texts(triage)
    assert "粗大ゴミの回収日を教えてください" in shown and "部署のチャンネルに届けられなかったため" in shown
    saved = stored(koho, comment_id)
    assert (saved.status, saved.department_id, saved.routed_reason, saved.channel, saved.assignment) == (
        "new", None, "undeliverable", "C0PR", 2)
    assert undeliverable_events(koho, comment_id) == [("system", "routed", "new", "is_archived", "kankyo")]
    notice = texts(message_with(koho, "C0PR", "送信に失敗しました"))
    assert "環境局のチャンネル <#C0KANKYO> への 1 件の送信に失敗しました: アーカイブされています（`is_archived`）" in notice
    assert f"届かなかった市民の声 #{comment_id} は、広報広聴課の振り分けに移しました" in notice
    assert ("1 message(s) to 環境局's channel <#C0KANKYO> could not be delivered: it is archived"
            in in_english(koho, "delivery_failed"))
    assert f"The comments that did not arrive, #{comment_id}, were moved" in in_english(koho, "delivery_failed")

    # The PR office sends it where it can be read now; the flow goes on as for any comment in triage.
    picker = button(triage, CommentAction.TRIAGE)
    response = koho.slack.block_action("U0PR1", CommentAction.TRIAGE, message=triage, selected_option=next(
        o["value"] for o in picker["options"] if o["value"].endswith(":kensetsu")))
    assert response.status == 200
    message_showing(koho, "C0KENSETSU", comment_id)
    assert (stored(koho, comment_id).status, stored(koho, comment_id).department_id) == ("routed", "kensetsu")


def test_every_comment_of_a_surge_digest_a_deleted_channel_refused_is_triaged(koho):
    koho.services.dispatcher.stop()  # the channel's queue builds up: the later comments share a digest
    ids = [receive(koho, f"ごみ集積所があふれています（{n}）", account=None) for n in range(6)]
    koho.fake.fail("chat.postMessage", 200, error="channel_not_found", channel="C0KANKYO", count=100)
    deliver_all(koho)

    assert not koho.fake.messages("C0KANKYO")
    for comment_id in ids:  # none left unseen: each is shown in the PR office's channel
        message_showing(koho, "C0PR", comment_id)
        assert (stored(koho, comment_id).status, stored(koho, comment_id).routed_reason) == ("new", "undeliverable")
    notices = " ".join(texts(m) for m in koho.fake.messages("C0PR") if "送信に失敗しました" in (m.get("text") or ""))
    assert "チャンネルが見つかりません" in notices
    assert all(f"#{comment_id}" in notices for comment_id in ids)
    assert len(koho.fake.messages("C0PR")) < 2 * len(ids)  # the digest's comments in one notice, not one each


def test_a_reminder_refused_by_the_channel_is_told_with_the_reason_and_moves_nothing(koho):
    # The comment's own message was delivered (the department has it, buttons and all); the channel then lost
    # the bot and Wednesday's reminder is refused: the PR office hears why, and escalation follows as ever.
    comment_id = receive(koho, "粗大ゴミの回収日を教えてください")
    message_showing(koho, "C0KANKYO", comment_id)
    settle(koho)
    koho.fake.fail("chat.postMessage", 200, error="not_in_channel", channel="C0KANKYO")
    koho.clock.advance(timedelta(days=2))  # Thursday morning: past Wednesday 17:15, before the escalation
    assert koho.sweep()["comment_targets"] == 1
    notice = texts(message_with(koho, "C0PR", "送信に失敗しました"))
    assert "環境局のチャンネル <#C0KANKYO> への 1 件の送信に失敗しました: ボットがチャンネルに参加していません" in notice
    assert (stored(koho, comment_id).status, stored(koho, comment_id).department_id) == ("routed", "kankyo")
