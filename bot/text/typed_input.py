"""What people type, read the way they meant it: command words, numbers, handles and URL hosts.

Japanese IMEs produce full-width letters and digits (ｊａ, ＃３, ＠ｃｈｉｂａ), and some turn a number
into a circled one (①). `str.isdigit()` says yes to "①" and "²", which `int()` then refuses, so a
number is read only from ASCII digits, after NFKC where a person typed it.

NFKC is for the words the bot reads (a sub-command, an id, a handle, a URL's scheme and host), never
for free text a person wrote: their reason, a post, a URL's path (which may be case- or width-sensitive).
"""

from __future__ import annotations

import unicodedata

# Ids we store (BIGINT) and ids a person types: more digits than this is not an id of ours.
MAX_ID_DIGITS = 18
# Where a URL's host ends (the character itself is structure, so it is read too).
_HOST_END = frozenset("/?#")


def fold_width(text: str) -> str:
    """NFKC: full-width letters, digits and symbols become ASCII (ｊａ → ja, ＃３ → #3, ① → 1)."""
    return unicodedata.normalize("NFKC", text)


def command_word(word: str) -> str:
    """A slash command's keyword as the bot compares it: NFKC, lower-cased (ＳＴＡＴＵＳ → status)."""
    return fold_width(word).strip().lower()


def ascii_int(value: object) -> int | None:
    """An id or a timestamp the bot wrote itself (a button's value, a block id, an env var): ASCII digits
    only, or None. Not NFKC'd: nobody types these, so anything else is not ours."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS else None


def typed_number(text: str | None) -> int | None:
    """A number a person typed after a command: `3`, `#3`, `＃３` and `３` are 3; so is `①` (NFKC reads a
    circled digit as the digit, which is what a person picking it from the IME's list meant). Anything
    else is None, never an exception."""
    folded = fold_width(text or "").strip()
    return ascii_int(folded.removeprefix("#"))


def plain_handle(handle: str) -> str:
    """An account handle as the platform spells it: ＠ｃｈｉｂａ＿ｃｉｔｙ → @chiba_city (handles are ASCII)."""
    return fold_width(handle).strip()


def plain_url_host(url: str) -> str:
    """The URL with its scheme and host in half-width (ｈｔｔｐｓ：／／ｘ．ｃｏｍ/… → https://x.com/…) and its
    path, query and fragment exactly as typed: they may be case- or width-sensitive. The scheme is
    lower-cased (it is case-insensitive, and the rules compare it); the host's case is left alone."""
    text = url.strip()
    folded = [fold_width(char) for char in text]
    joined = "".join(folded)
    host_start = 0
    scheme_end = joined.find("://")  # in whatever width it was typed
    if scheme_end >= 0 and not _HOST_END.intersection(joined[:scheme_end]):
        reached = 0
        for index, piece in enumerate(folded):
            reached += len(piece)
            if reached >= scheme_end + 3:
                host_start = index + 1
                break
    end = len(text)
    for index in range(host_start, len(text)):
        if folded[index] in _HOST_END:
            end = index + 1  # the separator itself is structure, read in half-width too
            break
    head = fold_width(text[:end])
    scheme, separator, rest = head.partition("://")
    if separator:
        head = scheme.lower() + separator + rest
    return head + text[end:]
