"""An answer through a response_url that Slack no longer takes (a click replayed over 30 minutes later, or
a sixth answer) still reaches the person: ephemeral where they are, else as a DM."""

import logging


def expire_response_urls(koho, monkeypatch):
    monkeypatch.setattr(koho.slack, "new_response_url",
                        lambda name="response", **binding: f"{koho.fake.base_url}/response/expired-{name}")


def test_an_answer_to_an_expired_response_url_comes_as_an_ephemeral_message(koho, monkeypatch, caplog):
    expire_response_urls(koho, monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert koho.slack.command("/koho", "language xx", user_id="U0STAFF1", channel_id="C0KANKYO").status == 200
        (refused,) = koho.fake.wait_for("response_url")
        assert refused.status == 404
        (told,) = koho.fake.wait_for("chat.postEphemeral", channel="C0KANKYO")
    assert told.args["user"] == "U0STAFF1" and "/koho language" in told.args["text"]
    assert "response_url refused the answer to U0STAFF1 (HTTP 404" in caplog.text


def test_where_no_ephemeral_can_go_it_comes_as_a_dm(koho, monkeypatch):
    expire_response_urls(koho, monkeypatch)
    koho.fake.fail("chat.postEphemeral", 200, error="channel_not_found")
    koho.slack.command("/koho", "language xx", user_id="U0STAFF1", channel_id="C0KANKYO")
    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)
    assert "/koho language" in dm.args["text"]
