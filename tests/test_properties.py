"""Properties that could fail, each over a bounded number of generated examples (the suite stays fast).

Parsers (webhook payloads and signatures, post lengths), routing (kana/width folding), masking and
escaping, and the log filter — the net under "logs never contain personal data or secrets".
"""

import json
import logging
import string
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.logs import RedactingFilter
from bot.organization import load_organization
from bot.text.japanese import route_by_keywords
from bot.text.masking import mask_personal_data
from bot.text.mrkdwn import escape
from bot.text.post_rules import PLATFORM_LIMITS, measure, over_limit
from bot.webhooks import parse_comment, sign, signature_problem
from tests.conftest import TEST_ORG
from tests.test_masking import _FILLER, email_addresses, rendered_phone_numbers

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORG = load_organization(TEST_ORG)
FIELDS = ("source", "external_id", "text", "received_at", "account", "author", "author_handle", "url")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


# -- webhook payloads ---------------------------------------------------------------------------


@FAST
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)))
def test_any_json_body_is_parsed_into_clean_values_or_named_problems(payload):
    clean, problems = parse_comment(payload)
    assert set(problems) <= {*FIELDS, "(body)"}
    if not problems:  # then everything the service needs is there, of the right type
        assert {"source", "external_id", "text", "received_at"} <= set(clean)
        assert all(isinstance(clean[f], str) for f in clean if f != "received_at")
        assert isinstance(clean["received_at"], datetime) and clean["received_at"].tzinfo is not None
        assert "\x00" not in clean["text"]


def kept(text: str) -> str:
    """What the webhook keeps of a text: control characters go, tabs and line breaks aside."""
    return "".join(ch for ch in text if ch in "\t\n\r" or not (ord(ch) < 32 or ord(ch) == 127))


valid_comments = st.fixed_dictionaries({
    "source": st.sampled_from(["x", "facebook", "instagram", "line"]),
    "external_id": st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40),
    "text": st.text(min_size=1, max_size=300).filter(lambda t: kept(t).strip()),
    # from 2000 (before, a tool's zero date) to now (not from the future)
    "received_at": st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime.now(),
                                timezones=st.just(datetime.now().astimezone().tzinfo)).map(datetime.isoformat),
})


@FAST
@given(valid_comments)
def test_every_well_formed_comment_is_accepted_and_its_text_kept(payload):
    clean, problems = parse_comment(json.loads(json.dumps(payload)))
    assert problems == {}
    assert clean["text"] == kept(payload["text"])


@FAST
@given(secret=st.text(min_size=1, max_size=20), body=st.binary(max_size=200), flip=st.integers(min_value=0))
def test_a_signature_holds_for_its_body_only(secret, body, flip):
    now = 1_800_000_000
    ts = str(now)
    good = sign(secret, ts, body)
    assert signature_problem(secret, ts, good, body, now) is None
    tampered = bytearray(body + b"!")
    tampered[flip % len(tampered)] ^= 0x01
    assert signature_problem(secret, ts, good, bytes(tampered), now) is not None
    assert signature_problem(secret + "x", ts, sign(secret + "x", ts, body), body, now + 301) is not None


# -- post lengths ---------------------------------------------------------------------------------


@FAST
@given(st.text(max_size=400), st.sampled_from(sorted(PLATFORM_LIMITS)))
def test_measuring_never_fails_and_agrees_with_the_limit(text, platform):
    measured = measure(text, platform)
    assert measured.length >= 0
    excess = over_limit(text, platform)
    assert excess >= 0
    assert (excess > 0) == (measured.limit is not None and measured.length > measured.limit)


# -- routing ----------------------------------------------------------------------------------------

_HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3097))
DEPARTMENTS = {d.id: list(d.keywords) for d in ORG.departments}
_WORDS = st.sampled_from([k for ks in DEPARTMENTS.values() for k in ks] + ["市役所", "について", "です", "公園"])


def _katakana(text):
    return "".join(chr(ord(c) + 0x60) if c in _HIRAGANA else c for c in text)


def _full_width(text):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@FAST
@given(st.lists(_WORDS | st.text(max_size=5), max_size=8).map("".join))
def test_routing_does_not_depend_on_kana_or_width(text):
    expected = route_by_keywords(text, DEPARTMENTS)
    for variant in (_katakana(text), _full_width(text), text.replace("", "\u200b")[1:-1] if text else text):
        got = route_by_keywords(variant, DEPARTMENTS)
        assert (got.department_id, got.reason) == (expected.department_id, expected.reason), variant


@FAST
@given(st.lists(_WORDS, min_size=1, max_size=6).map("".join), st.sampled_from(sorted(DEPARTMENTS)))
def test_mentioning_a_departments_keyword_more_never_routes_away_from_it(text, department):
    before = route_by_keywords(text, DEPARTMENTS)
    after = route_by_keywords(text + " " + DEPARTMENTS[department][0] * 20, DEPARTMENTS)
    assert after.department_id == department
    assert before.scores[department] < after.scores[department]


# -- masking and escaping ---------------------------------------------------------------------------


@FAST
@given(before=_FILLER, number=rendered_phone_numbers(), middle=_FILLER, address=email_addresses(), after=_FILLER)
def test_masked_and_escaped_citizen_text_has_no_phone_no_address_and_no_markup(before, number, middle, address,
                                                                                after):
    # (separated by spaces: a number glued to an address's local part reads as part of the address)
    shown = escape(mask_personal_data(f"{before}{number} {middle} {address} {after}").text)
    assert not any(ch.isdigit() for ch in shown)
    assert "@" not in shown and "＠" not in shown


@FAST
@given(st.text(max_size=200))
def test_escaping_never_leaves_markup_and_loses_nothing(text):
    shown = escape(text)
    assert "<" not in shown and ">" not in shown  # so never a raw <!channel>, <@U…> or <url|label>
    assert shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


# -- the log filter ---------------------------------------------------------------------------------

_TOKENS = st.builds(lambda kind, tail: f"{kind}-{tail}", st.sampled_from(["xoxb", "xoxp", "xapp", "xoxe"]),
                    st.text(string.ascii_letters + string.digits + "-", min_size=8, max_size=40))


@FAST
@given(before=_FILLER, number=rendered_phone_numbers(), address=email_addresses(), token=_TOKENS, after=_FILLER)
def test_the_log_filter_lets_no_phone_address_or_token_through(before, number, address, token, after):
    redactor = RedactingFilter(secrets=["a-configured-secret-value"])
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "%s%s %s %s %s a-configured-secret-value",
                               (before, number, address, token, after), None)
    redactor.filter(record)
    line = record.getMessage()
    assert not any(ch.isdigit() for ch in line), line
    assert "@" not in line and "＠" not in line and token not in line and "a-configured-secret-value" not in line
