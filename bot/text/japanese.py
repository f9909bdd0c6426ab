"""Normalising Japanese text for keyword matching, and routing a comment by department keywords.

Citizens type the same word many ways: ｺﾞﾐ (half-width), ゴミ, ごみ, ＧＯＭＩ. Matching must not
depend on the IME mode or phone they used, so text *and* keywords both go through
`normalize_for_matching` before they are compared. The normalised text is for matching only; it is
never shown to anyone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# ァ (U+30A1) … ヴ (U+30F4) each have a hiragana twin exactly 0x60 lower (ヴ → ゔ); ヽヾ → ゝゞ.
# ヷ–ヺ have no hiragana twin and the long-vowel mark ー is shared by both scripts, so they stay.
_FOLD_TABLE: dict[int, int | None] = {code: code - 0x60 for code in range(0x30A1, 0x30F5)}
_FOLD_TABLE |= {0x30FD: 0x309D, 0x30FE: 0x309E}
# Small ヵ/ヶ (and the rare hiragana ゕ/ゖ) are counters read "ka" (3ヶ月, 1ヵ所); people type
# か/カ/ヵ/ヶ interchangeably there, so they all become か.
_FOLD_TABLE |= dict.fromkeys((0x30F5, 0x30F6, 0x3095, 0x3096), ord("か"))
# Zero-width characters pasted from web pages would split a keyword invisibly.
_FOLD_TABLE |= dict.fromkeys((0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF), None)


def normalize_for_matching(text: str) -> str:
    """NFKC (width), katakana → hiragana, casefold, whitespace collapsed to single spaces.

    `normalize_for_matching(normalize_for_matching(t)) == normalize_for_matching(t)` for any t.
    """
    folded = unicodedata.normalize("NFKC", text).translate(_FOLD_TABLE).casefold()
    # A second NFKC: folding and casefolding can leave sequences NFKC would compose differently
    # (e.g. ヵ + combining dakuten → か + dakuten → が); without it the function is not idempotent.
    return " ".join(unicodedata.normalize("NFKC", folded).split())


def _normalized_keywords(keywords: Iterable[str]) -> frozenset[str]:
    # A set: ゴミ and ごみ in the same list are one keyword, not two votes.
    # Empty keywords are dropped because "" occurs everywhere.
    return frozenset(normalized for k in keywords if (normalized := normalize_for_matching(k)))


def _count_in_normalized(normalized_text: str, normalized_keywords: Iterable[str]) -> int:
    return sum(normalized_text.count(keyword) for keyword in normalized_keywords)


def count_keyword_matches(text: str, keywords: Iterable[str]) -> int:
    """Occurrences of the keywords in the text, after normalising both, summed.

    Each keyword is counted independently (non-overlapping occurrences of that keyword): with
    keywords 粗大ごみ and ごみ, "粗大ごみ" scores 2. That is deliberate: a department that lists
    both the general and the specific term outscores one that lists only the general term, and
    the count never depends on the order of the keywords.
    """
    return _count_in_normalized(normalize_for_matching(text), _normalized_keywords(keywords))


RoutingReason = Literal["matched", "tie", "no_match"]


@dataclass(frozen=True)
class RoutingResult:
    """`department_id` is None on a tie or no match: the caller sends those to PR-office triage."""

    department_id: str | None
    scores: dict[str, int]
    reason: RoutingReason


def route_by_keywords(text: str, departments: Mapping[str, Sequence[str]]) -> RoutingResult:
    """The department whose keywords occur most often in the text; see `count_keyword_matches`."""
    normalized_text = normalize_for_matching(text)
    scores = {
        department_id: _count_in_normalized(normalized_text, _normalized_keywords(keywords))
        for department_id, keywords in departments.items()
    }
    best = max(scores.values(), default=0)
    if best == 0:
        return RoutingResult(None, scores, "no_match")
    leaders = [department_id for department_id, score in scores.items() if score == best]
    if len(leaders) > 1:
        # Never guess between departments: a person in the PR office decides.
        return RoutingResult(None, scores, "tie")
    return RoutingResult(leaders[0], scores, "matched")
