"""Rules for post text: X's weighted length, each platform's limit, forbidden URL shorteners.

Pure functions with structured results: no Slack, no I/O, no i18n; callers word the messages.

X is counted the way twitter-text v3 counts it (github.com/twitter/twitter-text: config/v3.json,
js/src/parseTweet.js, js/src/extractUrlsWithIndices.js). This is our own port of the parts we
need rather than the PyPI package `twitter-text-parser` (last release 2023), which counts a bare
© as an emoji (twitter-text's regexes need © + U+FE0F), drops the "bare ccTLD domain needs a
path" rule (it links "foo.jp"), validates hosts with Python's IDNA codec instead of punycode.js
(so it does not link "…。。example.com"), and freezes Unicode 12 emoji data.

Emoji are matched by sequence *shape* (ZWJ chains, skin tones, VS16, flags, keycaps, tag
sequences), so every ZWJ sequence counts 2 as emojiParsingEnabled intends. Known differences
from twitter-text 3.1 (whose emoji list is from 2019): a ZWJ sequence newer than its list
(❤️‍🔥, 🐦‍⬛) or not in it at all counts 2 here but may count per part on X (❤️‍🔥: 5), and an
emoji that is already emoji-style followed by a stray U+FE0F (😷 + FE0F) counts 2 here, 4 on X.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

# --- Emoji ----------------------------------------------------------------------------------------

# Roughly Unicode's Extended_Pictographic (stdlib unicodedata has no emoji properties). Any
# pictograph outside X's light ranges weighs 2 alone, so these ranges only matter for deciding
# what a ZWJ / modifier / VS16 sequence is built from. Regional indicators and skin-tone
# modifiers are left out: they have their own rules below.
_PICTOGRAPHS = (
    "\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u2388\u23cf"
    "\u23e9-\u23f3\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf"
    "\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f1e5\U0001f200-\U0001f3fa\U0001f400-\U0001faff\U0001fc00-\U0001fffd"
)
_REGIONAL_INDICATOR = "\U0001f1e6-\U0001f1ff"
_SKIN_TONE = "\U0001f3fb-\U0001f3ff"
_VS16 = "\ufe0f"
_ZWJ = "\u200d"
# ©, ® are only emoji with VS16 (twitter-text's emoji regex: "emoji which default to text
# must be followed by U+FE0F"); bare they are ordinary light characters.
_EMOJI_ELEMENT = f"(?:[{_PICTOGRAPHS}][{_VS16}{_SKIN_TONE}]?|[{_SKIN_TONE}]|[\u00a9\u00ae]{_VS16})"
_EMOJI = re.compile(
    f"[{_REGIONAL_INDICATOR}]{{2}}"  # a flag is a pair of regional indicators
    "|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"  # subdivision flags (tag sequences)
    f"|[#*0-9]{_VS16}?\u20e3"  # keycaps
    f"|{_EMOJI_ELEMENT}(?:{_ZWJ}{_EMOJI_ELEMENT})*"
)

# --- URLs (twitter-text's extractor, js/src/extractUrlsWithIndices.js and regexp/) ------------------

_COUNTRY_TLDS = (  # noqa: SIM905 (a word table reads better than 255 quoted items)
    "ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn "
    "bo bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj "
    "dk dm do dz ec ee eg eh er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp "
    "gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh "
    "ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn "
    "mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph "
    "pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr "
    "ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk um us uy "
    "uz va vc ve vg vi vn vu wf ws ye yt za zm zw"
).split()
# twitter-text knows every IANA TLD and only links a domain whose TLD it knows (so that
# "example.comだよね.comtest" links just example.com). We list the common ones: a URL on a missing
# TLD is counted letter by letter, i.e. we over-count (safe), never under-count.
_GENERIC_TLDS = (  # noqa: SIM905 (a word table reads better than 109 quoted items)
    "academy aero agency app apple art asia biz blog cafe care cat center city clinic cloud club "
    "com company coop design dev digital eco edu education email events farm fashion food fun "
    "gallery games gift gle global gmbh goog google gov green group health hospital hotel inc "
    "info int jobs kyoto life link live llc love ltd media mil mobi moe museum nagoya name net "
    "network news nhk okinawa online org osaka page photo pro restaurant ryukyu school services "
    "shop site social solutions sony space store studio style support systems tech tel today "
    "tokyo top tours toyota travel university video vip website wiki work works world xyz "
    "yokohama youtube"
).split()
# Non-ASCII TLDs: twitter-text's IDN ccTLDs and the Japanese IDN gTLDs.
_IDN_TLDS = (  # noqa: SIM905 (a word table reads better than 72 quoted items)
    "한국 香港 澳門 新加坡 台灣 台湾 中國 中国 გე ລາວ ไทย ලංකා ഭാരതം ಭಾರತ భారత్ சிங்கப்பூர் இலங்கை இந்தியா ଭାରତ "
    "ભારત ਭਾਰਤ ভাৰত ভারত বাংলা भारोत भारतम् भारत ڀارت پاکستان موريتانيا مليسيا مصر قطر فلسطين "
    "عمان عراق سورية سودان تونس بھارت بارت ایران امارات المغرب السعودية الجزائر البحرين الاردن "
    "հայ қаз укр срб рф мон мкд ею бел бг ευ ελ みんな コム ストア セール ファッション ポイント クラウド 世界 通販 書籍 家電 食品"
).split()
# A bare two-label domain on a ccTLD ("foo.jp") is not linked without a path, except .co/.tv.
_SPECIAL_SHORT_CC_TLDS = frozenset({"co", "tv"})


def _alternation(words: list[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268"
    "\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_DIRECTIONAL_MARKS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVALID_CHARS = "\ufeff\ufffe\uffff"
# twitter-text's domain characters: anything but ASCII punctuation, spaces and invisible marks.
# So kana, kanji and even 、。 are "domain characters": in 詳しくはcity.chiba.jp the host X
# checks is 詳しくはcity.chiba.jp, of which it then links only the ASCII part city.chiba.jp.
_HOST_CHAR = rf"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x9f\s\u180e{_DIRECTIONAL_MARKS}{_INVALID_CHARS}]"
_TLD = (
    rf"(?:(?ai:xn--[a-z0-9-]+|{_alternation(_COUNTRY_TLDS + _GENERIC_TLDS)})|{_alternation(_IDN_TLDS)})"
    "(?![0-9A-Za-z@+-])"  # "domain.com-typo" and "john.doe.gov@mail.com" do not end in a TLD
)
# Possessive label loops: a label never contains ".", so giving characters back cannot help.
_HOST = (
    rf"(?:{_HOST_CHAR}(?:[-_]*{_HOST_CHAR})*+\.)*"  # subdomains may contain "_"
    rf"{_HOST_CHAR}(?:-*{_HOST_CHAR})*+\.{_TLD}"
)
_PATH_CHAR = rf"[A-Za-z0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_CYRILLIC}{_LATIN_ACCENTS}]"
_PATH_END = rf"[+\-A-Za-z0-9=_#/{_CYRILLIC}{_LATIN_ACCENTS}]"  # so "/foo." leaves the period out
# Up to two nested levels of balanced parentheses: /wiki/Primer_(film).
_PARENS = rf"\((?:{_PATH_CHAR}++|{_PATH_CHAR}*+\({_PATH_CHAR}++\){_PATH_CHAR}*+)\)"
_QUERY = r"\?[A-Za-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[A-Za-z0-9\-_&=#/]"
_PATH = rf"/(?:(?:{_PATH_CHAR}|{_PARENS})*(?:{_PATH_END}|{_PARENS}))?"
_URL_TAIL = rf"(?::[0-9]+)?(?P<path>{_PATH})?(?:{_QUERY})?"
_NOT_AFTER = rf"(?<![A-Za-z0-9@＠$#＃{_INVALID_CHARS}])"  # no URL inside a word, #tag, @name, $cash
_SCHEME_URL = re.compile(rf"{_NOT_AFTER}(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?://)(?P<host>{_HOST}){_URL_TAIL}")
_BARE_URL = re.compile(rf"{_NOT_AFTER}(?P<host>{_HOST}){_URL_TAIL}")
_BARE_HOST_START = re.compile(rf"{_NOT_AFTER}{_HOST_CHAR}")
_ASCII_DOMAIN = re.compile(rf"(?:[-A-Za-z0-9{_LATIN_ACCENTS}]+\.)+{_TLD}")
_SHORT_CC_DOMAIN = re.compile(rf"{_HOST_CHAR}(?:-*{_HOST_CHAR})*\.(?P<tld>[A-Za-z]{{2}})")
_DOTTED_HOST_CHARS = re.compile(rf"{_HOST_CHAR}+(?:\.{_HOST_CHAR}+)*")
_TCO_URL = re.compile(rf"https?://t\.co/([a-z0-9]+)(?:{_QUERY})?", re.IGNORECASE)
_IDNA_DOTS = re.compile("[\u3002\uff0e\uff61]")  # 。．｡ separate labels when encoding, too
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_LABEL_LENGTH = 63


def _encoded_label_length(label: str) -> int:
    # What punycode.js's toASCII(label) returns, as twitter-text's idna.toAscii measures it.
    parts = _IDNA_DOTS.split(label)
    return len(parts) - 1 + sum(len(p) if p.isascii() else 4 + len(p.encode("punycode")) for p in parts)


def _is_valid_host(host: str) -> bool:
    # A DNS label is 1 to 63 characters once IDNA-encoded: long Japanese text glued to a bare
    # domain ("…お知らせですcity.chiba.jp") makes the host invalid, and X links nothing.
    if host.startswith("xn--") and not _ASCII_DOMAIN.search(host):
        return False
    return all(1 <= _encoded_label_length(label) <= _MAX_LABEL_LENGTH for label in host.split("."))


def _is_unlinked_short_domain(domain: str) -> bool:
    short = _SHORT_CC_DOMAIN.fullmatch(domain)
    return bool(short) and short["tld"].lower() not in _SPECIAL_SHORT_CC_TLDS


def _url_matches(text: str) -> Iterator[re.Match[str]]:
    """What twitter-text's extractUrl regex finds, in order, without its quadratic rescans.

    That regex *consumes* the character before a URL, so after a match the next URL cannot start
    right at its end: "http://twitter.com/これは…example.com" links "http://twitter.com/" and then
    a host starting at "れ", not at "こ" (which follows the "/").
    If a bare host fails to match at a host character, it also fails at every later start in the
    same run of host characters and single dots (those starts see a suffix of the same labels), so
    only scheme URLs are tried there: "詳しくはhttps://…" still starts inside such a run.
    """
    position = 0
    bare_hosts_fail_until = 0
    while position < len(text):
        match = _SCHEME_URL.match(text, position)
        if match is None and position >= bare_hosts_fail_until:
            match = _BARE_URL.match(text, position)
            if match is None and _BARE_HOST_START.match(text, position):
                bare_hosts_fail_until = _DOTTED_HOST_CHARS.match(text, position).end()
        if match is None:
            position += 1
        else:
            yield match
            position = match.end() + 1


def _iter_url_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each URL X would link, in order (js/src/extractUrlsWithIndices.js).

    `text` must already be NFC.
    """
    if "." not in text:
        return
    for match in _url_matches(text):
        start, end = match.span()
        host = match["host"]
        scheme = match["scheme"] if match.re is _SCHEME_URL else None
        if not _is_valid_host(host) or len(scheme or "https://") + end - start > _MAX_URL_LENGTH:
            continue
        if scheme:
            if tco := _TCO_URL.match(match[0]):
                # t.co links end at the slug: "http://t.co/abc's" links only "http://t.co/abc".
                if len(tco[1]) > _MAX_TCO_SLUG_LENGTH:
                    continue
                end = start + tco.end()
            yield start, end
            continue
        # "foo/bar.com", ".bar.com", "_bar.com": not a bare domain, and (as in twitter-text)
        # the whole match is skipped rather than retried at a later position.
        if start > 0 and text[start - 1] in "-_./":
            continue
        # Without a scheme only the ASCII domains inside the host are links; the last one takes
        # the path (if any), and without a path the port and query are not part of the link.
        domains = list(_ASCII_DOMAIN.finditer(host))
        for domain in domains:
            linked_end = end if match["path"] and domain is domains[-1] else start + domain.end()
            if match["path"] or not _is_unlinked_short_domain(domain[0]):
                yield start + domain.start(), linked_end


def find_urls(text: str) -> list[str]:
    """URLs X would link in `text` (with or without scheme), as found in its NFC form."""
    normalized = unicodedata.normalize("NFC", text)
    return [normalized[start:end] for start, end in _iter_url_spans(normalized)]


# --- X weighted length ----------------------------------------------------------------------------

X_MAX_WEIGHTED_LENGTH = 280
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
_X_URL_WEIGHT = 23 * _X_SCALE  # transformedURLLength: every URL becomes a 23-character t.co link
_X_EMOJI_WEIGHT = _X_DEFAULT_WEIGHT  # emojiParsingEnabled: a whole sequence weighs one default char
# Latin, Greek, Cyrillic, Hebrew, Arabic, Indic…, and some punctuation count 1; everything else 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


def _x_char_weight(char: str) -> int:
    code_point = ord(char)
    if any(low <= code_point <= high for low, high in _X_LIGHT_RANGES):
        return _X_SCALE
    return _X_DEFAULT_WEIGHT


def x_weighted_length(text: str) -> int:
    """Length as X counts it (280 max): CJK and emoji count 2, Latin 1, any URL 23."""
    normalized = unicodedata.normalize("NFC", text)
    url_ends = dict(_iter_url_spans(normalized))
    weight = 0
    index = 0
    while index < len(normalized):
        if index in url_ends:
            weight += _X_URL_WEIGHT
            index = url_ends[index]
        elif emoji := _EMOJI.match(normalized, index):
            weight += _X_EMOJI_WEIGHT
            index = emoji.end()
        else:
            weight += _x_char_weight(normalized[index])
            index += 1
    return weight // _X_SCALE


# --- Grapheme clusters (Bluesky) ------------------------------------------------------------------

# A simplified UAX #29 extended grapheme cluster segmentation: CR LF, controls, combining marks,
# ZWJ emoji sequences, variation selectors, skin tones, tags and regional-indicator pairs.
# Not covered: Hangul jamo (input is NFC, which composes modern Hangul), Prepend, Indic conjuncts.
_GraphemeKind = Literal["CR", "LF", "Control", "Extend", "ZWJ", "RegionalIndicator", "Pictograph", "Other"]
_EXTRA_EXTEND = re.compile(
    f"[\u200c\uff9e\uff9f{_SKIN_TONE}\U000e0020-\U000e007f]"  # ZWNJ, half-width ﾞﾟ, tones, tags
)
_PICTOGRAPH_CHAR = re.compile(f"[{_PICTOGRAPHS}\u00a9\u00ae]")
_REGIONAL_INDICATOR_CHAR = re.compile(f"[{_REGIONAL_INDICATOR}]")


def _grapheme_kind(char: str) -> _GraphemeKind:
    if char == "\r":
        return "CR"
    if char == "\n":
        return "LF"
    if char == _ZWJ:
        return "ZWJ"
    if _EXTRA_EXTEND.match(char):
        return "Extend"
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Mc"):
        return "Extend"
    if category in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return "Control"
    if _REGIONAL_INDICATOR_CHAR.match(char):
        return "RegionalIndicator"
    if _PICTOGRAPH_CHAR.match(char):
        return "Pictograph"
    return "Other"


def count_graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters) in the NFC form of `text`."""
    count = 0
    previous: _GraphemeKind | None = None
    regional_indicators_in_a_row = 0
    pictograph_then_zwj = False  # GB11: Pictograph Extend* ZWJ × Pictograph
    in_pictograph = False
    for char in unicodedata.normalize("NFC", text):
        kind = _grapheme_kind(char)
        if previous is None:
            joins = False
        elif previous == "CR" and kind == "LF":
            joins = True
        elif previous in ("CR", "LF", "Control") or kind in ("CR", "LF", "Control"):
            joins = False
        elif kind in ("Extend", "ZWJ") or (kind == "Pictograph" and pictograph_then_zwj):
            joins = True
        else:
            joins = kind == "RegionalIndicator" and regional_indicators_in_a_row % 2 == 1
        count += not joins
        regional_indicators_in_a_row = regional_indicators_in_a_row + 1 if kind == "RegionalIndicator" else 0
        pictograph_then_zwj = in_pictograph and kind == "ZWJ"
        in_pictograph = kind == "Pictograph" or (in_pictograph and kind == "Extend")
        previous = kind
    return count


# --- Platform limits ------------------------------------------------------------------------------

Unit = Literal["weighted", "chars", "graphemes"]


@dataclass(frozen=True)
class PlatformLimit:
    limit: int | None  # None: no limit we know of
    unit: Unit


# "chars" are code points of the NFC text, so macOS-style decomposed kana (か + ゙) count once.
PLATFORM_LIMITS: Mapping[str, PlatformLimit] = MappingProxyType(
    {
        "x": PlatformLimit(X_MAX_WEIGHTED_LENGTH, "weighted"),
        "facebook": PlatformLimit(63_206, "chars"),
        "instagram": PlatformLimit(2_200, "chars"),
        "threads": PlatformLimit(500, "chars"),
        "bluesky": PlatformLimit(300, "graphemes"),
        "line": PlatformLimit(5_000, "chars"),
        "youtube": PlatformLimit(5_000, "chars"),  # community post / video description
        "other": PlatformLimit(None, "chars"),
    }
)


@dataclass(frozen=True)
class Measurement:
    platform: str
    length: int
    limit: int | None
    unit: Unit

    @property
    def over_by(self) -> int:
        """How many units too long; 0 when it fits or there is no limit."""
        return 0 if self.limit is None else max(0, self.length - self.limit)


def _length_in(text: str, unit: Unit) -> int:
    if unit == "weighted":
        return x_weighted_length(text)
    if unit == "graphemes":
        return count_graphemes(text)
    return len(unicodedata.normalize("NFC", text))


def measure(text: str, platform: str) -> Measurement:
    """Length of `text` in `platform`'s own unit; ValueError for an unknown platform."""
    try:
        rule = PLATFORM_LIMITS[platform]
    except KeyError:
        raise ValueError(f"unknown platform: {platform!r}") from None
    return Measurement(platform, _length_in(text, rule.unit), rule.limit, rule.unit)


def over_limit(text: str, platform: str) -> int:
    """How many units `text` is over `platform`'s limit (0 when it fits)."""
    return measure(text, platform).over_by


# --- URL shorteners -------------------------------------------------------------------------------

# The national guideline forbids shortened URLs: readers cannot see where they lead, and a lapsed
# or hijacked short link can be repointed. youtu.be is deliberately *not* listed: it is YouTube's
# own share domain, the video id stays visible and it can only lead to that video on YouTube.
# amzn.to / amzn.asia are listed although Amazon-owned: they hide which page they open.
URL_SHORTENER_HOSTS = frozenset(
    {
        "amzn.asia",
        "amzn.to",
        "bit.ly",
        "buff.ly",
        "cutt.ly",
        "dlvr.it",
        "goo.gl",
        "ift.tt",
        "is.gd",
        "j.mp",
        "lnkd.in",
        "ow.ly",
        "rb.gy",
        "rebrand.ly",
        "shorturl.at",
        "t.co",
        "t.ly",
        "tiny.cc",
        "tinyurl.com",
        "v.gd",
        "x.gd",
    }
)
# Scanned for directly rather than via find_urls: X does not link a bare domain glued to a long
# Japanese sentence (see _is_valid_host), but a shortened link there is just as forbidden.
_SHORTENED_URL = re.compile(
    r"(?<![A-Za-z0-9.@_-])(?:[Hh][Tt][Tt][Pp][Ss]?://)?(?:[Ww][Ww][Ww]\.)?"
    rf"(?ai:{_alternation(sorted(URL_SHORTENER_HOSTS))})(?!\.?[A-Za-z0-9-]){_URL_TAIL}"
)


def find_shortened_urls(text: str) -> list[str]:
    """Each URL in `text` on a known shortener host, as found in the NFKC form of `text`.

    Case-insensitive, with or without scheme or "www."; NFKC first, so full-width input such as
    ｂｉｔ．ｌｙ/abc is caught (and returned as bit.ly/abc).
    """
    return [match[0] for match in _SHORTENED_URL.finditer(unicodedata.normalize("NFKC", text))]
