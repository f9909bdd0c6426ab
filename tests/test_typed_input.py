"""Reading what people type in whatever width their IME chose: command words, numbers, handles, URLs."""

import pytest

from bot.text.typed_input import ascii_int, command_word, plain_handle, plain_url_host, typed_number


@pytest.mark.parametrize("typed", ["3", "#3", "＃３", "３", " ＃3 "])
def test_a_typed_number_reads_the_same_in_any_width_with_or_without_its_hash(typed):
    assert typed_number(typed) == 3


def test_a_circled_digit_reads_as_its_digit_and_nothing_a_person_types_raises():
    assert typed_number("①") == 1  # NFKC's reading; isdigit() said yes and int() refused it
    for typed in ("", "#", "三", "3a", "-3", "1.5", "#" * 3, "9" * 19, "①②③④⑤⑥⑦⑧⑨⑩" * 2, None):
        assert typed_number(typed) is None, typed


@pytest.mark.parametrize("value", ["²", "①", "３", "-1", "1 ", "", "9" * 19, None, True, 2.0])
def test_an_id_the_bot_wrote_is_ascii_digits_or_nothing(value):
    assert ascii_int(value) is None


def test_ids_the_bot_wrote_are_read():
    assert ascii_int("42") == 42 and ascii_int(42) == 42 and ascii_int("9" * 18) == int("9" * 18)


def test_command_words_are_half_width_lower_case():
    assert [command_word(w) for w in ("ｊａ", "ＥＮ", "Status", "ｓｔａｔｕｓ", "状況")] == ["ja", "en", "status", "status", "状況"]


def test_a_handle_typed_full_width_is_the_platforms_spelling():
    assert plain_handle(" ＠ｃｈｉｂａ＿ｃｉｔｙ ") == "@chiba_city"


@pytest.mark.parametrize(("typed", "read"), [
    ("ｈｔｔｐｓ：／／ｘ．ｃｏｍ/chiba_city", "https://x.com/chiba_city"),
    ("ｈｔｔｐｓ://ｗｗｗ．ｃｉｔｙ．ｃｈｉｂａ．ｊｐ", "https://www.city.chiba.jp"),
    ("HTTPS://www.city.chiba.jp/Path", "https://www.city.chiba.jp/Path"),
    # the path, query and fragment stay as typed: they may be width- or case-sensitive
    ("https://x.com/ｃｈｉｂａ", "https://x.com/ｃｈｉｂａ"),
    ("https://ｅｘａｍｐｌｅ．ｊｐ？q=ＡＢＣ#ＴＯＰ", "https://example.jp?q=ＡＢＣ#ＴＯＰ"),
    ("https://www.city.chiba.jp/koho/お知らせ（１２月）.html", "https://www.city.chiba.jp/koho/お知らせ（１２月）.html"),
    # without a scheme only the host is read; the rules then refuse it
    ("ｘ．ｃｏｍ/ｃｈｉｂａ", "x.com/ｃｈｉｂａ"),
    ("ftp://example.jp", "ftp://example.jp"),
])
def test_a_url_has_its_scheme_and_host_made_half_width_and_the_rest_kept(typed, read):
    assert plain_url_host(typed) == read
