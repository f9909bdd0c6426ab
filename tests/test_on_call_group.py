"""On call from a Slack user group (`[emergency] on_call_group`): the rota is kept in Slack, not in the file.

The officer on duty at 3 a.m. was put into the group by whoever keeps the rota; Koho hears of it (the
`subteam_members_changed` event, a timed sync, start-up), stores the members, and from then on that officer
may declare, tick and take 緊急 comments in hand, and is paged. Someone taken out of the group may not. When
Slack cannot be asked, the members stored last stand, and so do the file's own `on_call`.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib

import pytest
from slack_sdk import WebClient
from sqlalchemy.exc import OperationalError

from bot.on_call_group import OnCallSync
from bot.organization import OrganizationError, parse_organization
from bot.workflows.audit import events_for
from bot.workflows.emergencies import roster
from bot.workflows.emergencies.roster import RosterCache
from tests.conftest import BOT_TOKEN, running_koho
from tests.emergency_support import EMERGENCY_CHANNEL, audit_actions, declare, ephemerals, open_declare_modal
from tests.harness.db_hold import Hold, beside
from tests.harness.waiting import wait_until
from tests.test_organization import MINIMAL

GROUP = "S0ONCALL"


@pytest.fixture
def koho(fake_slack, database, db_url, clock, org):
    """The bot with an on-call group beside the file's two officers; the group holds U0NIGHT1 in Slack, but
    the bot has not asked yet (tests start no timed work: the start-up sync is theirs to make)."""
    fake_slack.user_groups[GROUP] = ["U0NIGHT1"]
    with running_koho(fake_slack, database, db_url, clock, dataclasses.replace(org, on_call_group=GROUP)) as running:
        yield running


def group_changed(koho, *, added=(), removed=()) -> None:
    """Whoever keeps the rota changes the group in Slack, and Slack tells the bot."""
    members = koho.fake.user_groups[GROUP]
    koho.fake.user_groups[GROUP] = [m for m in members if m not in removed] + [m for m in added if m not in members]
    stored_before = roster_events(koho)
    assert koho.slack.subteam_members_changed(GROUP, list(added), list(removed)).status == 200
    wait_until(lambda: roster_events(koho) > stored_before)


def roster_events(koho) -> int:
    with koho.db.read() as session:
        return len(events_for(session, "on_call_group", GROUP))


def roster_record(koho) -> list[dict]:
    with koho.db.read() as session:
        return [{"actor": e.actor, **e.details} for e in events_for(session, "on_call_group", GROUP)]


def test_an_officer_put_into_the_group_may_declare_and_the_others_are_paged(koho):
    # Not yet in the group as the bot knows it: refused, and the refusal names who is on call.
    assert koho.slack.command("/emergency", "", user_id="U0NIGHT1", channel_id=EMERGENCY_CHANNEL).status == 200
    (refusal,) = ephemerals(koho)
    assert "緊急時当番だけ" in refusal and "<@U0NIGHT1>" not in refusal

    group_changed(koho, added=["U0NIGHT2"])
    assert roster.stored_members(koho.db, GROUP) == ("U0NIGHT1", "U0NIGHT2")
    assert roster_record(koho) == [{"actor": "system", "added": ["U0NIGHT1", "U0NIGHT2"], "removed": [],
                                    "members": ["U0NIGHT1", "U0NIGHT2"]}]

    emergency_id = declare(koho, user="U0NIGHT1")
    assert audit_actions(koho, "emergency", emergency_id) == ["emergency.declared"]
    # Paged: the file's officers and the group's other member, by DM; not the one who declared.
    for officer in ("U0ONCALL1", "U0ONCALL2", "U0NIGHT2"):
        (page,) = koho.fake.wait_for("chat.postMessage", channel=officer, predicate=lambda c: c.ok)
        assert "<@U0NIGHT1> が緊急事態を宣言しました" in page.args["text"]
    assert koho.fake.calls_to("chat.postMessage", channel="U0NIGHT1") == []


def test_an_officer_taken_out_of_the_group_is_no_longer_on_call(koho):
    group_changed(koho, added=["U0NIGHT2"])
    group_changed(koho, removed=["U0NIGHT1"])
    assert roster_record(koho)[-1] == {"actor": "system", "added": [], "removed": ["U0NIGHT1"], "members": ["U0NIGHT2"]}

    assert koho.slack.command("/emergency", "", user_id="U0NIGHT1", channel_id=EMERGENCY_CHANNEL).status == 200
    (refusal,) = ephemerals(koho)
    assert "緊急時当番だけ" in refusal and "<@U0NIGHT2>" in refusal and "<@U0NIGHT1>" not in refusal
    assert audit_actions(koho, "emergency", "-") == ["emergency.declare_refused"]
    open_declare_modal(koho, "U0NIGHT2")  # the one still in it may

    # Slack tells of every group the bot may read: another group's change is not asked about.
    asked = len(koho.fake.calls_to("usergroups.users.list"))
    assert koho.slack.subteam_members_changed("S0OTHER", ["U0STAFF1"]).status == 200
    koho.wait_for_listeners()
    assert len(koho.fake.calls_to("usergroups.users.list")) == asked


def test_when_slack_cannot_be_asked_the_members_stored_last_stay_on_call(koho, caplog):
    sync = koho.services.on_call_sync
    assert sync.run_once() is not None  # the start-up sync: U0NIGHT1
    koho.fake.user_groups[GROUP] = []  # emptied in Slack, but the bot cannot read it now

    koho.fake.fail("usergroups.users.list", 200, error="no_such_subteam")
    with caplog.at_level(logging.WARNING, logger="bot.on_call_group"):
        assert sync.run_once() is None
    assert "no such user group (or it is disabled): check [emergency] on_call_group" in caplog.text
    koho.fake.rate_limit("usergroups.users.list", retry_after=30)
    assert sync.run_once() is None
    assert roster.stored_members(koho.db, GROUP) == ("U0NIGHT1",)
    open_declare_modal(koho, "U0NIGHT1")

    # Slack answers again: the group is empty now, and with the file's officers somebody is still on call.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.on_call_group"):
        change = sync.run_once()
    assert change is not None and change.removed == ("U0NIGHT1",) and change.members == ()
    assert "nobody could declare" not in caplog.text


def test_a_group_and_nobody_in_it_nor_in_the_file_is_an_error_in_the_log(fake_slack, database, clock, org, caplog):
    group_only = dataclasses.replace(org, on_call=(), on_call_group=GROUP)
    fake_slack.user_groups[GROUP] = []
    with caplog.at_level(logging.ERROR, logger="bot.on_call_group"):
        client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
        OnCallSync(client, database, clock, group_only, RosterCache(database, GROUP)).run_once()
    assert "nobody could declare an emergency" in caplog.text


# -- the stored members ---------------------------------------------------------------------------------


def test_a_sync_that_changes_nothing_records_nothing(database, clock):
    assert roster.store(database, clock, GROUP, ["U0A", "U0B"]).added == ("U0A", "U0B")
    assert roster.store(database, clock, GROUP, ["U0B", "U0A", "U0A"]) is None  # the same people
    with database.read() as session:
        assert [e.action for e in events_for(session, "on_call_group", GROUP)] == ["on_call.roster_changed"]


def test_two_syncs_at_once_leave_a_record_that_adds_up(database, clock):
    """A sync that read the members just before another one stored new ones must not record its change
    against what it read: the record, replayed, must give the members stored."""
    roster.store(database, clock, GROUP, ["U0A"])
    hold = Hold(database, at_statement="SELECT on_call_rosters", release_after="UPDATE on_call_rosters",
                thread_name="held-sync")
    beside(hold, lambda: roster.store(database, clock, GROUP, ["U0A", "U0C"]),
           lambda: roster.store(database, clock, GROUP, ["U0A", "U0B"]))
    members: list[str] = []
    with database.read() as session:
        for e in events_for(session, "on_call_group", GROUP):
            members = [m for m in members if m not in e.details["removed"]] + e.details["added"]
    assert set(members) == set(roster.stored_members(database, GROUP))


def test_on_call_checks_read_the_stored_members_again_after_a_while(database, clock, monkeypatch):
    """A worker process never hears Slack's event: its checks read what the web process stored."""
    now = [0.0]
    cache = RosterCache(database, GROUP, ttl=10, monotonic=lambda: now[0])
    assert cache() == ()
    roster.store(database, clock, GROUP, ["U0A"])  # by another process
    now[0] = 9.9
    assert cache() == ()
    now[0] = 10.0
    assert cache() == ("U0A",)
    cache.put(["U0B"])  # a sync in this process: at once
    assert cache() == ("U0B",)

    def unreachable(*_):
        raise OperationalError("SELECT", {}, OSError("the database server went away"))

    monkeypatch.setattr(roster, "stored_members", unreachable)
    now[0] = 30.0
    assert cache() == ("U0B",)  # the members read before stand while the database cannot be read


# -- the organisation file ------------------------------------------------------------------------------


def test_the_file_may_name_a_group_and_then_may_leave_its_own_list_empty():
    with_group = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]', 'on_call_group = "S0ONCALL"\non_call = []')
    org = parse_organization(tomllib.loads(with_group))
    assert org.on_call_group == "S0ONCALL" and org.on_call_now() == () and not org.is_on_call("U0NIGHT1")
    org.on_call_group_members.read_from(lambda: ("U0NIGHT1", "U0NIGHT1"))
    assert org.on_call_now() == ("U0NIGHT1",) and org.is_on_call("U0NIGHT1")
    # Each organisation has its own members: a copy made for a test does not share them.
    assert dataclasses.replace(org).on_call_now() == ()

    without_either = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]', "")
    with pytest.raises(OrganizationError) as caught:
        parse_organization(tomllib.loads(without_either))
    assert caught.value.problems == ["emergency.on_call: missing: expected a list of Slack user ids"]
    handle = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]', 'on_call_group = "@oncall"')
    with pytest.raises(OrganizationError) as caught:
        parse_organization(tomllib.loads(handle))
    assert caught.value.problems == ["emergency.on_call_group: expected a Slack user group id such as S012AB3CD "
                                     "(not the @handle), got '@oncall'"]
