"""Comment categories from the city's social-media policy, and a keyword-based first guess.

`suggest_category` only *suggests*: a person always confirms or changes the category in Slack.
The rules favour catching emergencies over precision: a comment that merely mentions a fire is
flagged 緊急 and a person downgrades it, because a missed emergency costs far more than a false one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.text.japanese import normalize_for_matching


class Category(StrEnum):
    """Value: stable id for storage. `label`: Japanese name used by staff. `gloss`: English."""

    OPINION = "opinion"
    REQUEST = "request"
    COMPLAINT = "complaint"
    QUESTION = "question"
    REPORT = "report"
    THANKS = "thanks"
    RUMOUR = "rumour"
    EMERGENCY = "emergency"
    DELETION_CANDIDATE = "deletion_candidate"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def gloss(self) -> str:
        return _GLOSSES[self]


_LABELS: Mapping[Category, str] = {
    Category.OPINION: "意見・提案",
    Category.REQUEST: "要望",
    Category.COMPLAINT: "苦情",
    Category.QUESTION: "相談・問合せ",
    Category.REPORT: "情報提供・通報",
    Category.THANKS: "感謝",
    Category.RUMOUR: "デマ疑い",
    Category.EMERGENCY: "緊急",
    Category.DELETION_CANDIDATE: "削除候補",
}
_GLOSSES: Mapping[Category, str] = {
    Category.OPINION: "opinion",
    Category.REQUEST: "request",
    Category.COMPLAINT: "complaint",
    Category.QUESTION: "question",
    Category.REPORT: "report",
    Category.THANKS: "thanks",
    Category.RUMOUR: "rumour",
    Category.EMERGENCY: "emergency (someone in danger)",
    Category.DELETION_CANDIDATE: "deletion candidate",
}

# In priority order: the first category with a matching keyword wins. Any script or width works
# (タスケテ matches たすけて); everything is normalised at import.
_KEYWORDS: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (Category.EMERGENCY, (
        "助けて", "たすけて", "取り残され", "閉じ込められ", "火事", "燃えて", "倒れ", "意識がない",
        "意識が無い", "息をしていない", "息をしてない", "溺れ", "流され", "生き埋め", "怪我人", "けが人",
        "救急車", "119番", "SOS", "動けない", "逃げられない",
    )),
    # Kept modest on purpose: staff review these, and over-matching would hide real opinions.
    # (Plain 出会い is left out: 素敵な出会いをありがとう is thanks.)
    (Category.DELETION_CANDIDATE, (
        "死ね", "殺す", "ころす", "殺してやる", "爆破", "爆弾", "儲かる副業", "稼げる副業", "簡単に稼げ",
        "出会い系",
    )),
    (Category.RUMOUR, (
        "デマ", "本当ですか", "本当なの", "って本当", "拡散希望", "拡散して", "拡散お願い", "嘘", "噂",
        "うわさ", "フェイク", "らしい",
    )),
    (Category.COMPLAINT, (
        "ひどい", "酷い", "遅い", "対応が悪い", "怒", "苦情", "迷惑", "うるさい", "最悪", "不親切",
        "いい加減", "納得できない",
    )),
    (Category.REQUEST, (
        "してほしい", "して欲しい", "してもらいたい", "していただきたい", "してください", "お願い", "要望",
        "設置して", "増やして", "改善して", "検討して",
    )),
    (Category.QUESTION, (
        "教えて", "ですか？", "ますか？", "でしょうか", "どこで", "どこに", "いつ", "問い合わせ", "問合せ",
        "知りたい", "どうすれば", "どうしたら",
    )),
    (Category.REPORT, (
        "倒木", "冠水", "陥没", "不法投棄", "通報", "見かけ", "破損", "壊れ", "故障", "水漏れ", "漏水",
        "落下",
    )),
    (Category.THANKS, ("ありがとう", "有難う", "有り難う", "感謝", "助かりました", "助かります", "お礼")),
    (Category.OPINION, ("提案", "意見", "と思います", "べき")),
)  # fmt: skip

# Phrases that contain a category's keyword but mean something else. They are blanked out before
# that category's keywords are looked for, e.g. 助けていただき is thanks, not a cry for help.
_FALSE_FRIENDS: Mapping[Category, tuple[str, ...]] = {
    Category.EMERGENCY: (
        "助けていただ", "助けてもらっ", "助けてもらい", "助けてくれて", "助けてくださっ", "助けてくださり",
        "デマが流され", "噂が流され", "うわさが流され", "情報が流され", "救急車のサイレン",
    ),
    Category.RUMOUR: (
        "素晴らしい", "すばらしい", "あたらしい", "めずらしい", "かわいらしい", "可愛らしい", "わざとらしい",
        "いやらしい",
        "デマンド",  # デマンド交通 (demand-responsive buses) is a city service
    ),
    Category.REQUEST: ("よろしくお願い", "宜しくお願い"),  # a sign-off, not a request
    Category.QUESTION: ("いつも", "いつの間に"),  # いつもお世話になっております is a greeting
}  # fmt: skip


def _normalized_terms(terms: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(as written, normalised) pairs; matches are reported as written in the table above."""
    return tuple((term, normalize_for_matching(term)) for term in terms)


_RULES = tuple((category, _normalized_terms(terms)) for category, terms in _KEYWORDS)
_EMERGENCY_TERMS = dict(_RULES)[Category.EMERGENCY]
_EXCLUSIONS = {
    category: tuple(normalize_for_matching(p) for p in ps) for category, ps in _FALSE_FRIENDS.items()
}
# Keywords are normalised text, which never contains NUL, so a blanked phrase cannot match them.
_BLANK = "\x00"


@dataclass(frozen=True)
class Suggestion:
    category: Category
    matched_terms: tuple[str, ...]


def _matched_terms(
    normalized_text: str, category: Category, terms: tuple[tuple[str, str], ...]
) -> tuple[str, ...]:
    for phrase in _EXCLUSIONS.get(category, ()):
        normalized_text = normalized_text.replace(phrase, _BLANK)
    return tuple(term for term, normalized in terms if normalized in normalized_text)


def suggest_category(text: str) -> Suggestion:
    """The highest-priority category whose keywords occur; 意見・提案 when none do."""
    normalized_text = normalize_for_matching(text)
    for category, terms in _RULES:
        if matched := _matched_terms(normalized_text, category, terms):
            return Suggestion(category, matched)
    return Suggestion(Category.OPINION, ())


def is_emergency(text: str) -> bool:
    """Same rule as `suggest_category(text).category is Category.EMERGENCY` (緊急 has top priority)."""
    return bool(_matched_terms(normalize_for_matching(text), Category.EMERGENCY, _EMERGENCY_TERMS))
