from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text.japanese import (
    RoutingResult,
    count_keyword_matches,
    normalize_for_matching,
    route_by_keywords,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ｺﾞﾐ", "ごみ"),  # half-width katakana with a separate dakuten
        ("ゴミ", "ごみ"),
        ("ごみ", "ごみ"),
        ("ＧＯＭＩ", "gomi"),
        ("Gomi", "gomi"),
        ("ﾊﾟｰｸ", "ぱーく"),
        ("コーヒー", "こーひー"),  # the long-vowel mark stays
        ("ヴァイオリン", "ゔぁいおりん"),
        ("3ヶ月、３ヵ月、3カ月", "3か月、3か月、3か月"),
        ("ヽヾ", "ゝゞ"),
        ("ヷ", "ヷ"),  # no hiragana twin
        ("  粗大\u3000ごみ \n\t回収 ", "粗大 ごみ 回収"),
        ("ご\u200bみ", "ごみ"),  # zero-width space pasted from a web page
        ("千葉市中央区", "千葉市中央区"),
    ],
)
def test_normalize_for_matching(raw: str, expected: str) -> None:
    assert normalize_for_matching(raw) == expected


@pytest.mark.parametrize("spelling", ["ｺﾞﾐ", "ゴミ", "ごみ", "ＧＯＭＩ", "gomi"])
def test_every_spelling_of_gomi_matches_every_other(spelling: str) -> None:
    text = f"公園に{spelling}が捨てられています"
    assert count_keyword_matches(text, ["ごみ", "gomi"]) == 1
    assert count_keyword_matches(text, [spelling, "ごみ", "ゴミ", "gomi"]) == 1


def test_counts_every_occurrence() -> None:
    assert count_keyword_matches("ゴミ出しのごみ袋、ｺﾞﾐ箱", ["ごみ"]) == 3


def test_duplicate_spellings_of_one_keyword_count_once() -> None:
    assert count_keyword_matches("ごみ", ["ゴミ", "ごみ", "ｺﾞﾐ"]) == 1


def test_longer_keyword_and_the_shorter_one_inside_it_both_count() -> None:
    assert count_keyword_matches("粗大ごみの回収日", ["粗大ごみ", "ごみ"]) == 2
    assert count_keyword_matches("粗大ごみの回収日", ["ごみ"]) == 1


def test_empty_keywords_are_ignored() -> None:
    assert count_keyword_matches("ごみ", ["", "  "]) == 0


DEPARTMENTS = {
    "environment": ["ごみ", "粗大ごみ", "不法投棄"],
    "roads": ["道路", "陥没", "街灯"],
    "parks": ["公園", "遊具"],
}


def test_route_most_matches_wins() -> None:
    result = route_by_keywords("粗大ごみが道路脇に不法投棄されています", DEPARTMENTS)
    assert result == RoutingResult("environment", {"environment": 3, "roads": 1, "parks": 0}, "matched")


def test_route_tie_goes_to_triage() -> None:
    result = route_by_keywords("公園の前の道路", DEPARTMENTS)
    assert result.department_id is None
    assert result.reason == "tie"
    assert result.scores == {"environment": 0, "roads": 1, "parks": 1}


def test_route_no_match_goes_to_triage() -> None:
    result = route_by_keywords("市長の任期について", DEPARTMENTS)
    assert result == RoutingResult(None, {"environment": 0, "roads": 0, "parks": 0}, "no_match")


def test_route_without_departments() -> None:
    assert route_by_keywords("ごみ", {}) == RoutingResult(None, {}, "no_match")


def test_route_uses_normalised_keywords_and_text() -> None:
    assert route_by_keywords("ｺｳｴﾝのﾕｳｸﾞ", {"parks": ["公園", "ゆうぐ"]}).department_id == "parks"


_KANA_TEXT = st.text(alphabet="ごみゴミｺﾞﾐ粗大公園道路ーヴヶ ＡAａa　\n")


@given(st.text())
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_for_matching(text)
    assert normalize_for_matching(once) == once


@given(_KANA_TEXT)
def test_normalisation_is_idempotent_on_japanese_looking_text(text: str) -> None:
    once = normalize_for_matching(text)
    assert normalize_for_matching(once) == once


@given(
    text=_KANA_TEXT,
    departments=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]), st.lists(_KANA_TEXT, max_size=4), max_size=4
    ),
    random=st.randoms(use_true_random=False),
)
def test_routing_does_not_depend_on_keyword_or_department_order(
    text: str, departments: dict[str, list[str]], random: Random
) -> None:
    shuffled_items = list(departments.items())
    random.shuffle(shuffled_items)
    shuffled = {
        department_id: random.sample(keywords, len(keywords)) for department_id, keywords in shuffled_items
    }

    original = route_by_keywords(text, departments)
    reordered = route_by_keywords(text, shuffled)
    assert reordered.department_id == original.department_id
    assert reordered.reason == original.reason
    assert reordered.scores == original.scores
