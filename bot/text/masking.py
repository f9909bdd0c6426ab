"""Mask citizens' personal data in everything the bot posts to Slack.

The original comment is stored elsewhere; Slack only ever sees the masked text. Detection reads a
folded copy of the text (`_fold`: full-width forms as ASCII, hyphen-likes as "-", every space-like as one
space, runs of kanji digits as digits, invisible characters dropped), so that one pattern covers each
notation; what it finds is replaced in the original, so everything that is not masked reaches staff
exactly as the citizen wrote it.

Masking errs towards recall for things that are clearly personal (a phone-shaped number, anything
after 〒) and towards precision for city text that merely contains digits (dates, times, amounts,
article numbers, URLs of the city's own pages).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

MaskKind = Literal["phone", "email", "my_number", "postal_address"]

# One placeholder per kind, whatever the length of what it hides, so nothing about the data leaks.
# Placeholders contain no digits, @ or 〒, so masking them again finds nothing. They are neutral markers,
# stored as they are (`comments.masked_text`) and shown in each reader's language by `render_placeholders`
# with the words of the catalogs (`comments.placeholder.*`): "[電話番号]" for one reader, "[phone number]" for another.
PHONE_PLACEHOLDER = "⟦phone⟧"
EMAIL_PLACEHOLDER = "⟦email⟧"
MY_NUMBER_PLACEHOLDER = "⟦my_number⟧"
ADDRESS_PLACEHOLDER = "⟦postal_address⟧"
_PLACEHOLDER_RE = re.compile(r"⟦(phone|email|my_number|postal_address)⟧")


@dataclass(frozen=True)
class MaskResult:
    text: str
    # One kind per masked item ("phone", "phone", "email", …), so callers can count or de-duplicate.
    found: tuple[MaskKind, ...]


# -- the folded text ---------------------------------------------------------------------------------
# One character for one, so a position in the fold is a position in the text:
_FOLD_TABLE = str.maketrans(
    {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}  # ０-９ＡＢ＠．（）＋－～ → ASCII
    # Hyphen-likes people put in numbers. The katakana ー an IME produces for "-" stays ー (but counts as a
    # dash) so that it never joins the ASCII run of an e-mail address's local part.
    | dict.fromkeys("‐‑‒–—―−─━﹣⁃﹘˗", "-")
    | dict.fromkeys("ｰ", "ー")
    | dict.fromkeys("〜∼⁓", "~")  # ～ is folded to ~ above
    | dict.fromkeys("･·•", "・")
    | dict.fromkeys("\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                    "\u202f\u205f\u3000", " ")
    | {"〶": "〒"}
)
# str.translate looks up every character of the text; a regex finds the few that change much faster.
_FOLDABLE = re.compile("[" + "".join(re.escape(chr(code)) for code in _FOLD_TABLE) + "]+")
_KANJI_DIGITS = "〇一二三四五六七八九"
_KANJI_DIGIT_TABLE = str.maketrans(_KANJI_DIGITS, "0123456789")
# Kanji digits written one after another are a number (〇九〇, 五六七八, 二〇二六); a single one is a word
# (一番, 第一回, 一丁目, 三十分) and stays as it is. 〇〇 alone is "so-and-so", not zeros.
_KANJI_DIGIT_RUN = re.compile(f"[{_KANJI_DIGITS}]{{2,}}")
# 一 between digits is a dash typed as the kanji for one: "090一1234一5678".
_KANJI_ONE_AS_DASH = re.compile("(?<=[0-9])一(?=[0-9])")
_KANJI_NUMBER = re.compile(f"(?=[{_KANJI_DIGITS}])(?:{_KANJI_DIGIT_RUN.pattern}|{_KANJI_ONE_AS_DASH.pattern})")
# Not one for one (dropped or shortened; `_Folded.original` maps positions back): a line broken after a
# number's dash ("090-1234-\n5678"), invisible characters (zero-width space, soft hyphen, word joiner, BOM)
# and runs of spaces ("090  1234  5678").
_INVISIBLE = "\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff"
_SQUEEZE = re.compile(
    rf"(?=[ \r\n{_INVISIBLE}])(?:(?<=[0-9][-ー~・]) *\r?\n *(?=[0-9])|[{_INVISIBLE}]+|(?P<spaces>  +))"
)


@dataclass(frozen=True)
class _Folded:
    text: str
    # Where positions shift: from folded position starts[i] on, the text's position is `+ shifts[i]`.
    starts: tuple[int, ...] = (0,)
    shifts: tuple[int, ...] = (0,)

    def original(self, position: int) -> int:
        return position + self.shifts[bisect_right(self.starts, position) - 1]


def _kanji_number(run: re.Match[str]) -> str:
    digits = run.group()
    return digits if digits.strip("〇") == "" else digits.translate(_KANJI_DIGIT_TABLE)


def _fold(text: str) -> _Folded:
    folded = _FOLDABLE.sub(lambda run: run.group().translate(_FOLD_TABLE), text)
    if _KANJI_NUMBER.search(folded):
        folded = _KANJI_ONE_AS_DASH.sub("-", _KANJI_DIGIT_RUN.sub(_kanji_number, folded))
    if _SQUEEZE.search(folded) is None:
        return _Folded(folded)
    pieces: list[str] = []
    starts, shifts = [0], [0]
    position = shift = 0
    for squeezed in _SQUEEZE.finditer(folded):
        begin, end = squeezed.span()
        pieces.append(folded[position:begin])
        at = begin - shift  # where the squeezed run starts in the folded text
        if squeezed.group("spaces"):
            pieces.append(" ")
            shift += end - begin - 1
            starts.append(at + 1)
        else:
            shift += end - begin
            starts.append(at)
        shifts.append(shift)
        position = end
    pieces.append(folded[position:])
    return _Folded("".join(pieces), tuple(starts), tuple(shifts))


# -- the patterns, on the folded text -------------------------------------------------------------------
_DIGIT = "[0-9]"
_DASH = "[-ー]"
# Joins digit groups: a dash, a tilde (〜), a middle dot (・).
_LINKS = "-ー~・"
# A phone number's groups may also be joined by a slash ("090/1234/5678", ０９０／…): a date has too few
# digits to pass for a number, or is glued to its year ("2026/03/12": the 03 follows "6/"). My Number and
# postal codes are not written so.
_PHONE_LINKS = _LINKS + "/"


def _separator(links: str) -> str:
    """Between two digit groups: a link (maybe spaced), one space, or a dot (maybe followed by a space)."""
    return rf"(?: ?[{links}] ?| |\. ?)"


def _not_glued(links: str) -> tuple[str, str]:
    """Lookbehind and lookahead: a number glued to more digits (directly or via a link) is part of something
    longer, not ours."""
    return rf"(?<!{_DIGIT})(?<!{_DIGIT}[{links}])", rf"(?!{_DIGIT})(?![{links}]{_DIGIT})"


_SEP = _separator(_LINKS)
_NOT_AFTER_DIGITS, _NOT_BEFORE_DIGITS = _not_glued(_LINKS)
_PHONE_SEP = _separator(_PHONE_LINKS)
_NOT_AFTER_PHONE_DIGITS, _NOT_BEFORE_PHONE_DIGITS = _not_glued(_PHONE_LINKS)

_AREA = rf"0{_DIGIT}{{1,4}}"
_PHONE_BRACKETED_AREA = rf"\( ?{_AREA} ?\) ?{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{3,4}}"  # (03)1234-5678, ( 090 ) 1234-5678
_PHONE_DOMESTIC = "|".join(
    (
        rf"{_AREA}{_PHONE_SEP}{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{3,6}}",  # 03-1234-5678, 0120 123 456, 090-12-345678
        _PHONE_BRACKETED_AREA,
        rf"{_AREA}\({_DIGIT}{{1,4}}\){_DIGIT}{{3,4}}",  # 03(1234)5678
        rf"{_AREA}{_PHONE_SEP}{_DIGIT}{{6,8}}",  # 090-12345678
        rf"0{_DIGIT}{{9,10}}",  # 09012345678
        rf"0(?: {_DIGIT}){{9,10}}(?! {_DIGIT})",  # 0 9 0 1 2 3 4 5 6 7 8
    )
)
# +81 90-1234-5678, ＋８１ (0)3 1234 5678, +819012345678, (+81)90-…, +81(90)1234-…, 81-90-1234-5678
_COUNTRY_CODE = rf"(?:\+ ?81|\( ?\+ ?81 ?\)|81(?={_PHONE_SEP}))"
_PHONE_INTERNATIONAL = (
    rf"{_COUNTRY_CODE}(?:{_PHONE_SEP}?\(0\))?{_PHONE_SEP}?"
    rf"(?:{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{3,4}}"
    rf"|\( ?{_DIGIT}{{1,4}} ?\) ?{_DIGIT}{{1,4}}{_PHONE_SEP}{_DIGIT}{{3,4}}|{_DIGIT}{{9,10}})"
)
_PHONE = rf"(?:{_PHONE_INTERNATIONAL}|{_PHONE_DOMESTIC})"
# Each pattern that starts with lookbehinds first looks ahead for a character it can start with: most
# positions of a text are rejected at once (the masker runs on every comment and every log line).
_PHONE_RE = re.compile(rf"(?=[0-9(+]){_NOT_AFTER_PHONE_DIGITS}{_PHONE}{_NOT_BEFORE_PHONE_DIGITS}")
# A number with its area code in brackets is looked for before addresses: its last digits may read as a
# postal code before a place name ("(010)000-0000中市…"), which would leave the area code shown.
_BRACKETED_AREA_PHONE_RE = re.compile(rf"(?=\(){_NOT_AFTER_PHONE_DIGITS}{_PHONE_BRACKETED_AREA}{_NOT_BEFORE_PHONE_DIGITS}")
_INTERNATIONAL_START = re.compile(r"\(? ?(?:\+|81)")
# Numbering plan: 11-digit numbers exist only for these prefixes (mobile, IP phone, M2M, 0800
# toll-free); every other Japanese number has 10 digits. Checked in code: a regex would be unreadable.
_ELEVEN_DIGIT_PREFIXES = ("020", "050", "060", "070", "080", "090", "0800")

# My Number: 12 digits, plain or 4-4-4. Also not next to " 1234" or ".1234", so that the first 12 digits
# of a 16-digit card number in groups of four are not mistaken for one.
_MY_NUMBER_RE = re.compile(
    rf"(?={_DIGIT}){_NOT_AFTER_DIGITS}(?<!{_DIGIT}[ .])(?<!{_DIGIT}\. )"
    rf"{_DIGIT}{{4}}{_SEP}?{_DIGIT}{{4}}{_SEP}?{_DIGIT}{{4}}"
    rf"{_NOT_BEFORE_DIGITS}(?!\.? ?{_DIGIT})"
)

_LOCAL_CHAR = r"A-Za-z0-9._%+\-"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"


def _bracketed(word: str) -> str:
    return rf" ?[(\[{{<【〔] ?{word} ?[)\]}}>】〕] ?"


# An @ written out to keep crawlers away: "taro [at] example.com", "taro(at)example(dot)com",
# "taro【アット】example.com", "taroアットマークexample.com".
_AT = rf"(?:@|{_bracketed('(?i:at)')}|{_bracketed('アット(?:マーク)?')}|アットマーク)"
_DOT = rf"(?:\.|{_bracketed('(?i:dot)')})"
# Or replaced by a mark the text then names: "taro★example.com（★を@に変えてください）".
_MARKED_AT = r"(?P<mark>[^\w\s@.⟦⟧])"  # (never a placeholder's bracket: masking again finds nothing new)
_MARK_NAMED = r"(?=[^\n]{0,30}?(?P=mark) ?(?:を|は|→) ?(?:半角の?)?@)"
# The lookbehind makes each run of e-mail characters start one match attempt, not one per
# character (keeps long junk strings linear); `++` never gives back what it took.
_EMAIL_RE = re.compile(
    rf"(?<![{_LOCAL_CHAR}])[{_LOCAL_CHAR}]++"
    rf"(?:{_AT}(?:{_LABEL}{_DOT})+[A-Za-z]{{2,}}|{_MARKED_AT}(?:{_LABEL}\.)+[A-Za-z]{{2,}}{_MARK_NAMED})"
)

_POSTAL_CODE = rf"{_DIGIT}{{3}}{_DASH}?{_DIGIT}{{4}}{_NOT_BEFORE_DIGITS}"
# After 〒 or 郵便番号 it is a postal code even spaced ("〒260 8722").
_MARKED_POSTAL_CODE = rf"{_DIGIT}{{3}}(?: ?{_DASH} ?| )?{_DIGIT}{{4}}{_NOT_BEFORE_DIGITS}"
_KANJI = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]"
# An address runs to the end of the line/sentence/clause, or to where contact details start
# ("… 千葉港1-1 TEL 043-…"), or to an earlier placeholder.
_ADDRESS_STOP = r"(?:電話|携帯|メール|☎|℡|[Tt][Ee][Ll]|[Ff][Aa][Xx]|[@\[⟦])"
_ADDRESS_REST = rf"(?:(?!{_ADDRESS_STOP})[^\n\r。、,!?])*"
_ADDRESS_AFTER_CODE = rf"(?: ?{_KANJI}{_ADDRESS_REST})?"
# 〒 says "a mailing address follows": the code and the address after it are masked, 〒 included.
_POSTAL_MARK_RE = re.compile(rf"(?P<secret>〒 ?{_MARKED_POSTAL_CODE}{_ADDRESS_AFTER_CODE})")
# With a word label the label stays visible ("郵便番号：[住所]") so the sentence still reads.
_LABEL_SEP = "[はが]?:? ?"
_POSTAL_LABEL_RE = re.compile(rf"郵便番号{_LABEL_SEP}(?P<secret>{_MARKED_POSTAL_CODE}{_ADDRESS_AFTER_CODE})")
# "住所：千葉市中央区千葉港1-1": the text must start like a place name (…都/道/府/県/市/区/町/村/郡)
# and contain a block number, so that "住所が変わったので…" is left alone.
_ADDRESS_LABEL_RE = re.compile(
    rf"住所{_LABEL_SEP}(?P<secret>{_KANJI}{{1,6}}?[都道府県市区町村郡]{_ADDRESS_REST})"
)
# A postal code without 〒 or a label, but followed by a place name ("260-8722 千葉市中央区千葉港1-1"):
# the place name is the context a bare "260-8722" lacks.
_POSTAL_PLACE_RE = re.compile(
    rf"(?={_DIGIT}){_NOT_AFTER_DIGITS}(?P<secret>{_POSTAL_CODE} ?{_KANJI}{{1,6}}?[都道府県市区町村郡]{_ADDRESS_REST})"
)
# No label at all ("中央区千葉港1丁目1番1号", "千葉市中央区千葉港1-1に住んでいます"): a place name ending in
# 市/区/町/村, maybe more of the place (kanji, katakana, kana that are not particles), then a block number
# (1丁目, 1番, 1号, 1-1, 1の1). A house number never starts with 0, so "区役所043-…" stays a phone number.
_PLACE_CHAR = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶケァ-ヺー\u3041-\u3096]"
_PARTICLES = "のはがをにでへともや"
_HOUSE = "[1-9][0-9]{0,3}"
_BLOCK_UNIT = "(?:丁目|番地|番|号)"
# In kanji numerals a block number is a word (一丁目, 十二番地, 一番一号; runs such as 二三 are digits by
# now). 一番 alone is "the most" ("市内一番の店") and 一号 "the first": they count only after 丁目/番地
# or as 一番一号.
_KANJI_HOUSE = "[一二三四五六七八九十][〇一二三四五六七八九十百]{0,3}"
_FIRST_BLOCK = "|".join(
    (
        rf"{_HOUSE}{_BLOCK_UNIT}",  # 1丁目, 1番地, 1番, 1号
        rf"{_HOUSE}(?:{_DASH}|の){_HOUSE}",  # 1-1, 1の1
        rf"{_KANJI_HOUSE}(?:丁目|番地)",  # 一丁目, 十二番地
        rf"{_KANJI_HOUSE}番{_KANJI_HOUSE}号",  # 一番一号
    )
)
# Then more of it: -2, 3番, 4号, 一番, の5 after a number or 番地 (1番地の5, 1の1の2) but not "の2階", and
# 番地の三 but not "番地の三人".
_NEXT_BLOCK = "|".join(
    (
        rf"{_DASH}?{_HOUSE}{_BLOCK_UNIT}?",
        rf"{_KANJI_HOUSE}{_BLOCK_UNIT}",
        rf"(?:(?<=[0-9])|(?<=番地))の{_HOUSE}{_BLOCK_UNIT}?(?![0-9]|階)",
        rf"(?<=番地)の{_KANJI_HOUSE}(?!{_KANJI})",
    )
)
_PLACE_BLOCK_RE = re.compile(
    rf"(?P<secret>{_KANJI}{{1,8}}?[市区町村](?:(?![{_PARTICLES}]){_PLACE_CHAR}){{0,12}}?"
    rf"(?:{_FIRST_BLOCK})(?:{_NEXT_BLOCK})*){_NOT_BEFORE_DIGITS}"
)
# What makes the text after 住所 an address rather than "住所が変わったので…".
_BLOCK_NUMBER_RE = re.compile(rf"{_DIGIT}|丁目|番地|{_KANJI_HOUSE}番{_KANJI_HOUSE}号")

# Numbers in a URL's path are page ids on the city's own site, not phone numbers; its query and fragment
# (`?tel=09012345678`, `#call-0312345678`) are where forms and apps put what a person typed.
# A URL is the ASCII a URL may hold unencoded (RFC 3986: no space, no " < > \\ ^ ` { | }), found in the
# text as written, and it ends before a comma, semicolon or bracket followed by nothing but a phone
# number: "…/faq,090-1234-5678" and "…/faq(090-1234-5678)" are a link and a number typed right after it.
_URL_RE = re.compile(r"https?://[!#-;=?-\[\]_a-z~]+")
_URL_PHONE_TAIL = re.compile(rf"[,;(](?={_PHONE}[)\].,;:!?]*\Z)")
_QUERY_START = re.compile(r"[?#]")


def _is_japanese_phone_number(candidate: str) -> bool:
    digits = re.sub("[^0-9]", "", candidate)
    if _INTERNATIONAL_START.match(candidate):
        # +81 (0)3… and the common mistake +81 03…: drop the country code and one trunk 0.
        digits = "0" + digits[2:].removeprefix("0")
    if len(digits) == 10:
        return digits[1] != "0"  # 00… is an international call prefix, not a number
    return len(digits) == 11 and digits.startswith(_ELEVEN_DIGIT_PREFIXES)


def _has_block_number(address: str) -> bool:
    return _BLOCK_NUMBER_RE.search(address) is not None


@dataclass(frozen=True)
class _Detector:
    kind: MaskKind
    pattern: re.Pattern[str]
    placeholder: str
    accepts: Callable[[str], bool] = lambda _: True  # given what was found, as folded
    # Where in a URL it applies: "anywhere" (e-mail addresses: ?mail=…), "query" (phone numbers: ?tel=…,
    # but not the page ids of a path), or "nowhere".
    inside_urls: Literal["anywhere", "query", "nowhere"] = "nowhere"


# Order matters: e-mails first (their local part may look like a phone number), then numbers with a
# bracketed area code, then addresses (they contain house numbers), then the other phone numbers
# (+819012345678 has 12 digits, like a My Number).
_DETECTORS = (
    _Detector("email", _EMAIL_RE, EMAIL_PLACEHOLDER, inside_urls="anywhere"),
    _Detector("phone", _BRACKETED_AREA_PHONE_RE, PHONE_PLACEHOLDER, accepts=_is_japanese_phone_number,
              inside_urls="query"),
    _Detector("postal_address", _POSTAL_MARK_RE, ADDRESS_PLACEHOLDER),
    _Detector("postal_address", _POSTAL_LABEL_RE, ADDRESS_PLACEHOLDER),
    _Detector("postal_address", _ADDRESS_LABEL_RE, ADDRESS_PLACEHOLDER, accepts=_has_block_number),
    _Detector("postal_address", _POSTAL_PLACE_RE, ADDRESS_PLACEHOLDER),
    _Detector("postal_address", _PLACE_BLOCK_RE, ADDRESS_PLACEHOLDER),
    _Detector("phone", _PHONE_RE, PHONE_PLACEHOLDER, accepts=_is_japanese_phone_number, inside_urls="query"),
    _Detector("my_number", _MY_NUMBER_RE, MY_NUMBER_PLACEHOLDER),
)


def _protected_spans(detector: _Detector, text: str) -> list[tuple[int, int]]:
    """The parts of URLs where the detector does not look."""
    if detector.inside_urls == "anywhere":
        return []
    spans = []
    for url in _URL_RE.finditer(text):
        start, end = url.span()
        tail = _URL_PHONE_TAIL.search(url.group())
        end = start + tail.start() if tail else end
        if detector.inside_urls == "query":
            query = _QUERY_START.search(text, start, end)
            end = query.start() if query else end
        spans.append((start, end))
    return spans


def _apply(detector: _Detector, text: str, folded: _Folded) -> tuple[str, list[MaskKind]]:
    """Masks in `text` what the detector finds in its folded copy."""
    protected = _protected_spans(detector, text)
    pieces: list[str] = []
    found: list[MaskKind] = []
    position = 0
    group = "secret" if "secret" in detector.pattern.groupindex else 0
    for match in detector.pattern.finditer(folded.text):
        start, end = match.span(group)
        secret = folded.text[start:end].rstrip(" ")  # trailing spaces belong to the sentence
        if not secret or not detector.accepts(secret):
            continue
        start, end = folded.original(start), folded.original(start + len(secret))
        if any(url_start < end and start < url_end for url_start, url_end in protected):
            continue
        pieces += [text[position:start], detector.placeholder]
        found.append(detector.kind)
        position = end
    pieces.append(text[position:])
    return "".join(pieces), found


def render_placeholders(text: str, word: Callable[[str], str]) -> str:
    """Masked text as a reader sees it: each placeholder replaced by `word(kind)` (the reader's language)."""
    return _PLACEHOLDER_RE.sub(lambda m: word(m.group(1)), text)


def mask_personal_data(text: str) -> MaskResult:
    """Replace phone numbers, e-mail addresses, My Number-like numbers and postal addresses.

    Idempotent: `mask_personal_data(r.text).text == r.text` for any result r.
    """
    found: list[MaskKind] = []
    # Repeat until nothing changes, so idempotence holds by construction instead of depending on
    # how the detectors interact (a placeholder can unglue a number from its neighbour). It ends
    # because every replacement removes digits (kanji ones too), an @ or 丁目/番地, and placeholders add none.
    folded = _fold(text)
    while True:
        round_found: list[MaskKind] = []
        for detector in _DETECTORS:
            text, kinds = _apply(detector, text, folded)
            if kinds:  # folded again only when something was masked: most texts are folded once
                folded = _fold(text)
            round_found += kinds
        if not round_found:
            return MaskResult(text, tuple(found))
        found += round_found
