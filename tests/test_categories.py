from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text.categories import Category, Suggestion, is_emergency, suggest_category


def test_every_category_has_a_japanese_label_and_an_english_gloss() -> None:
    assert {c.label for c in Category} == {
        "意見・提案",
        "要望",
        "苦情",
        "相談・問合せ",
        "情報提供・通報",
        "感謝",
        "デマ疑い",
        "緊急",
        "削除候補",
    }
    assert Category.EMERGENCY.gloss.startswith("emergency")
    assert Category("deletion_candidate") is Category.DELETION_CANDIDATE
    assert all(c.gloss for c in Category)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("川の中州に取り残されています、助けて！", Category.EMERGENCY),
        ("ﾀｽｹﾃ", Category.EMERGENCY),
        ("エレベーターに閉じ込められました", Category.EMERGENCY),
        ("向かいの家が火事です", Category.EMERGENCY),
        ("駅前で人が倒れていて意識がないみたい", Category.EMERGENCY),
        ("子どもが川で溺れている", Category.EMERGENCY),
        ("ＳＯＳ　家が浸水して動けない", Category.EMERGENCY),
        ("お前ら全員死ね", Category.DELETION_CANDIDATE),
        ("在宅で簡単に稼げる！儲かる副業はこちら", Category.DELETION_CANDIDATE),
        ("市役所を爆破する", Category.DELETION_CANDIDATE),
        ("給付金が打ち切られるらしいけど本当ですか？", Category.RUMOUR),
        ("【拡散希望】明日断水するそうです", Category.RUMOUR),
        ("それはデマですよね", Category.RUMOUR),
        ("窓口の対応が悪い。ひどすぎる", Category.COMPLAINT),
        ("夜中の工事がうるさくて迷惑です", Category.COMPLAINT),
        ("公園にベンチを設置してほしいです", Category.REQUEST),
        ("バスの本数を増やして欲しい", Category.REQUEST),
        ("粗大ごみの出し方を教えてください", Category.QUESTION),
        ("いつもお世話になっております。次の燃えるごみの日はいつですか？", Category.QUESTION),
        ("ワクチン接種はどこで受けられますか？", Category.QUESTION),
        ("〇〇公園の前の道路が陥没しています", Category.REPORT),
        ("大雨で地下道が冠水しています", Category.REPORT),
        ("河川敷に不法投棄を見かけました", Category.REPORT),
        ("ありがとう、助かりました", Category.THANKS),
        ("先日は道案内で助けていただき、ありがとうございました", Category.THANKS),
        ("いつも素晴らしい情報発信に感謝しています", Category.THANKS),
        ("図書館の開館時間を延長すべきだと思います", Category.OPINION),
        ("今日は良い天気ですね", Category.OPINION),
        ("", Category.OPINION),
    ],
)
def test_suggest_category(text: str, category: Category) -> None:
    assert suggest_category(text).category is category


def test_priority_emergency_beats_everything() -> None:
    # A person downgrades a false alarm; a missed emergency cannot be undone.
    assert suggest_category("火事ってデマですか？拡散希望").category is Category.EMERGENCY


def test_priority_complaint_beats_request() -> None:
    assert suggest_category("対応が遅い。早く改善してほしい").category is Category.COMPLAINT


def test_matched_terms_are_reported_as_written_in_the_rules() -> None:
    # Table order, table spelling: ﾀｽｹﾃ is reported as the rule たすけて.
    assert suggest_category("ﾀｽｹﾃ！川に取り残されています") == Suggestion(
        Category.EMERGENCY, ("たすけて", "取り残され")
    )
    assert suggest_category("ありがとう、助かりました") == Suggestion(
        Category.THANKS, ("ありがとう", "助かりました")
    )


def test_kanji_and_kana_spellings_are_different_words() -> None:
    # Normalisation unifies scripts of kana only; a kanji keyword needs its kana spelling listed too.
    assert not is_emergency("かわにとりのこされています")


def test_default_is_opinion_with_no_terms() -> None:
    assert suggest_category("市の広報誌を読みました") == Suggestion(Category.OPINION, ())


@pytest.mark.parametrize(
    "text",
    [
        "助けてください",
        "たすけて",
        "タスケテ",
        "閉じ込められて出られない",
        "裏山が燃えています",
        "父が倒れました、救急車を呼んでも来ない",
        "息をしていない",
        "車ごと流されています",
        "土砂崩れで生き埋めになっている人がいる",
        "事故で怪我人が出ています",
        "ケガ人がいます",
        "助けてくれ",
    ],
)
def test_emergency_positives(text: str) -> None:
    assert is_emergency(text)


@pytest.mark.parametrize(
    "text",
    [
        "ありがとう、助かりました",
        "助かります",
        "先日は助けていただきありがとうございました",
        "職員の方に助けてもらいました",
        "燃えるごみの日はいつですか",
        "燃えないごみの出し方",
        "倒木を見かけました",  # a fallen tree is a report; 倒木 does not contain 倒れ
        "変なデマが流されていますね",
        "救急車のサイレンが毎晩うるさい",
        "火災予防運動のポスターを見ました",
        "素晴らしい",
    ],
)
def test_emergency_negatives(text: str) -> None:
    assert not is_emergency(text)


def test_false_friends_do_not_trigger_rumour_or_request_or_question() -> None:
    assert suggest_category("素晴らしい取り組みです").category is Category.OPINION
    assert suggest_category("デマンドタクシーを使っています").category is Category.OPINION
    assert suggest_category("よろしくお願いします").category is Category.OPINION
    assert suggest_category("いつも見ています").category is Category.OPINION


@given(st.text())
def test_is_emergency_agrees_with_suggest_category(text: str) -> None:
    assert is_emergency(text) == (suggest_category(text).category is Category.EMERGENCY)


@given(st.text(alphabet="助けてかりましたありがとう火事燃えるごみの日デマ流され、。！？ ｱﾘｶﾞﾄｳ"))
def test_suggestions_are_well_formed(text: str) -> None:
    suggestion = suggest_category(text)
    assert isinstance(suggestion.category, Category)
    assert (suggestion.category is Category.OPINION) or suggestion.matched_terms
