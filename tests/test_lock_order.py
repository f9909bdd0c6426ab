"""Two changes at the same moment: both end (no deadlock on PostgreSQL), and what the second finds is true.

Each test holds one transaction at a point where it has taken some of its locks, and makes the other change
meanwhile. Every change takes its rows in one order (a comment's row before its channel's place; an account's
row before its pending change or review), so the second waits for the first, then sees what it did.
On SQLite, which writes one transaction at a time, the same tests check the outcome.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.workflows.accounts.models import AccountChange
from bot.workflows.accounts.rules import AccountDraft
from bot.workflows.accounts.service import AccountError, AccountService
from bot.workflows.audit import events_for
from bot.workflows.comments.service import CommentService, NewComment, Outcome
from tests.comments_support import comment, post_webhook, receive
from tests.harness.db_hold import Hold, beside
from tests.test_comments_slack import stored

JST = ZoneInfo("Asia/Tokyo")


def test_two_comments_marked_duplicates_of_each_other_at_once_make_no_cycle(koho):
    service = CommentService(koho.db, koho.services.org, koho.services.calendar, koho.clock)
    a, b = receive(koho, "駅前のごみ箱があふれています"), receive(koho, "駅前のごみ箱があふれています！")
    versions = {c: stored(koho, c).row_version for c in (a, b)}
    # "#a duplicates #b" has written its row and waits to commit while "#b duplicates #a" is tried.
    hold = Hold(koho.db, at_statement="UPDATE comments", release_after="SELECT comments", thread_name="held")
    first, second = beside(hold, lambda: service.mark_duplicate(a, "U0STAFF1", versions[a], b),
                           lambda: service.mark_duplicate(b, "U0STAFF1", versions[b], a))
    assert first.outcome is Outcome.DONE
    assert second.outcome is Outcome.INVALID and second.detail == {"original": a, "original_of": b}
    assert (stored(koho, a).duplicate_of, stored(koho, b).duplicate_of) == (b, None)


def test_an_edited_comment_arriving_while_it_is_reassigned_waits_for_the_reassignment(koho, monkeypatch):
    """The webhook's group stores a new comment for 建設局 and an edit of a comment being reassigned to 建設局
    at that moment. The reassignment took the comment's row, then 建設局's place for its message; the group
    took 建設局's place (for its new comment), then the edited comment's row: on PostgreSQL each waited for
    the other until one was killed, and the monitoring tool was answered 500. Now the group takes the edited
    comments' rows first."""
    service = CommentService(koho.db, koho.services.org, koho.services.calendar, koho.clock)
    sent = comment("粗大ごみの回収日を教えてください")
    moving = post_webhook(koho, sent)[1]["id"]
    version = stored(koho, moving).row_version
    group = [as_new(comment("道路に穴が開いています")),  # for 建設局
             as_new({**sent, "text": "粗大ごみの回収日を教えてください。大型家具です"})]  # the moving one, edited
    failed = []  # a group the database refused (it is then stored comment by comment: no sender sees it)
    store_all = CommentService._store_all

    def watched(self, news):  # noqa: ANN001, ANN202
        try:
            return store_all(self, news)
        except Exception as e:
            failed.append(e)
            raise

    monkeypatch.setattr(CommentService, "_store_all", watched)
    hold = Hold(koho.db, at_statement="UPDATE comments", release_after="UPDATE comments", thread_name="held")
    first, second = beside(hold, lambda: service.reassign(moving, "U0PR1", version, "kensetsu"),
                           lambda: service.receive_many(group))
    assert failed == [] and first.outcome is Outcome.DONE, (failed, first)
    assert [type(r).__name__ for r in second] == ["Received", "Received"], second
    assert second[1].updated and stored(koho, moving).department_id == "kensetsu"
    assert stored(koho, moving).text.endswith("大型家具です")


def as_new(payload: dict) -> NewComment:
    return NewComment(origin="webhook", source=payload["source"], external_id=payload["external_id"],
                      text=payload["text"], received_at=datetime.fromisoformat(payload["received_at"]),
                      account_id=payload["account"], author=payload["author"],
                      author_handle=payload["author_handle"], url=payload["url"])


@pytest.fixture
def accounts(koho):
    return AccountService(koho.db, koho.services.org, koho.clock)


def draft_of(account, **changes) -> AccountDraft:
    fields = {f.name for f in dataclasses.fields(AccountDraft)} - {"account_id"}
    values = {name: getattr(account, name) for name in fields}
    values["operators"] = tuple(values["operators"] or ())
    return AccountDraft(**{"account_id": account.id, **values, **changes})


def test_a_withdrawal_approved_while_the_account_is_handed_over_ends_both_in_turn(koho, accounts):
    """The approval takes the account's row before the request's; the hand-over (an edit) takes the account's
    row, then stores its request (one pending change per account). Before, the approval took the request's
    row first and the two waited for each other in a circle on PostgreSQL until one was killed."""
    account = accounts.account("city-line")
    change_id = accounts.request_withdraw("U0ADMIN1", "city-line", "フォロワーが少ないため")
    handed_over = draft_of(account, department_id="kankyo")
    hold = Hold(koho.db, at_statement="UPDATE account_changes", release_after="SELECT accounts",
                thread_name="held")
    first, second = beside(hold, lambda: accounts.decide("U0PR1", change_id, approve=True),
                           lambda: accounts.edit("U0ADMIN1", "city-line", handed_over, account.row_version))
    assert first.result == "decided", first
    # The edit waited for the approval, then found the account changed (withdrawn) meanwhile.
    assert isinstance(second, AccountError) and second.key == "accounts.refused.changed_meanwhile", second
    assert accounts.account("city-line").status == "withdrawn"


def test_a_comment_acknowledged_as_the_escalation_sweep_reads_it_is_not_escalated_after(koho):
    """The sweep read the comments due for escalation; one was acknowledged before the sweep claimed it. The
    claim repeats "still waiting", so the PR office is not told of a comment the department has in hand."""
    service = CommentService(koho.db, koho.services.org, koho.services.calendar, koho.clock)
    comment_id = receive(koho, "粗大ごみの申込み方法がわかりません")  # Tuesday 10:00, due Wednesday 17:15
    koho.clock.set(datetime(2026, 11, 25, 17, 16, tzinfo=JST))
    assert koho.sweep()["comment_targets"] == 1  # the channel is reminded
    koho.clock.set(datetime(2026, 11, 26, 12, 31, tzinfo=JST))  # four office hours later: due for escalation
    version = stored(koho, comment_id).row_version
    hold = Hold(koho.db, at_statement="SELECT comments.id", release_after="UPDATE comments", thread_name="held")
    escalated, acknowledged = beside(hold, service.escalate_overdue,
                                     lambda: service.acknowledge(comment_id, "U0STAFF1", version))
    assert acknowledged.outcome is Outcome.DONE
    # On PostgreSQL the acknowledgement commits first and the sweep escalates nothing; on SQLite the sweep
    # holds the one writer's turn and escalates before the acknowledgement. Never the other way round.
    with koho.db.read() as session:
        order = [e.action for e in events_for(session, "comment", comment_id)
                 if e.action in ("comment.escalated", "comment.acknowledge")]
    assert order in (["comment.acknowledge"], ["comment.escalated", "comment.acknowledge"]), order
    assert escalated == len(order) - 1


def test_an_open_request_for_an_id_registered_meanwhile_is_not_approved_but_said_taken(koho, accounts):
    """A second request to open an id asked for in the instant the first was approved (the id was free when
    checked): approving it says the id is taken, not a database error, and leaves it to be rejected."""
    first = accounts.request_open("U0ADMIN1", draft_of(accounts.account("city-x"), account_id="kensetsu-x",
                                                         department_id="kensetsu"))
    requested = accounts.change(first)  # the same request, stored beside it as it was approved
    second = {c.name: getattr(requested, c.name) for c in AccountChange.__table__.columns if c.name != "id"}
    assert accounts.decide("U0PR1", first, approve=True).result == "decided"
    with koho.db.transaction() as session:
        session.execute(AccountChange.__table__.insert().values(second))
        second_id = session.scalar(select(func.max(AccountChange.id)))
    with pytest.raises(AccountError) as refused:
        accounts.decide("U0PR1", second_id, approve=True)
    assert refused.value.key == "accounts.error.id_taken"
    assert accounts.change(second_id).status == "pending"
    assert accounts.decide("U0PR1", second_id, approve=False, reason="重複した申請").result == "decided"
