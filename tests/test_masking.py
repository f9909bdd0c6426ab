from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text.masking import (
    ADDRESS_PLACEHOLDER,
    EMAIL_PLACEHOLDER,
    MY_NUMBER_PLACEHOLDER,
    PHONE_PLACEHOLDER,
    MaskResult,
    mask_personal_data,
)

PHONE_NUMBERS = [
    "03-1234-5678",
    "043-245-5111",
    "0475-12-3456",
    "01267-2-3456",
    "090-1234-5678",
    "080 1234 5678",
    "070.1234.5678",
    "09012345678",
    "0312345678",
    "050-1234-5678",
    "0120-123-456",
    "0800-123-4567",
    "090-12345678",
    "+81-90-1234-5678",
    "+81 3 1234 5678",
    "+819012345678",
    "+81 (0)3-1234-5678",
    "03(1234)5678",
    "(03)1234-5678",
    "０９０－１２３４－５６７８",
    "０９０ー１２３４ー５６７８",
    "090−1234−5678",
    "090‐1234‐5678",
    "090―1234―5678",
    "（０３）１２３４－５６７８",
    "＋８１　９０　１２３４　５６７８",
    "090 - 1234 - 5678",
    # As people type them: the kanji 一 or a wave dash for ー, a middle dot, spaces of every width and
    # count, a number wrapped onto the next line, kanji digits, digits spaced out, the country code in
    # brackets or without its +, and dashes nobody types but copy from somewhere.
    "090一1234一5678",
    "090〜1234〜5678",
    "090～1234～5678",
    "090・1234・5678",
    "090  1234  5678",
    "090\u00a01234\u00a05678",
    "090\t1234\t5678",
    "090-1234-\n5678",
    "090-\r\n1234-5678",
    "〇九〇-一二三四-五六七八",
    "〇九〇一二三四五六七八",
    "090-1234-五六七八",
    "0 9 0 1 2 3 4 5 6 7 8",
    "(+81)90-1234-5678",
    "+81(90)1234-5678",
    "( 090 ) 1234-5678",
    "090. 1234. 5678",
    "81-90-1234-5678",
    "090-12-345678",
    "090⁃1234⁃5678",
    "090﹘1234﹘5678",
    "090\u200b1234\u200b5678",
    "0901\u200b2345678",
    # Slashes, as some write a number (and full-width, as an IME gives them).
    "090/1234/5678",
    "03/1234/5678",
    "090 / 1234 / 5678",
    "０９０／１２３４／５６７８",
    "+81/90/1234/5678",
]


@pytest.mark.parametrize("number", PHONE_NUMBERS)
def test_phone_numbers_are_masked(number: str) -> None:
    result = mask_personal_data(f"電話番号は{number}です。折り返しお願いします")
    assert result == MaskResult(f"電話番号は{PHONE_PLACEHOLDER}です。折り返しお願いします", ("phone",))


def test_several_phone_numbers_next_to_each_other() -> None:
    result = mask_personal_data("自宅 043-245-5111 携帯 090-1234-5678、080-1111-2222")
    assert result.text == f"自宅 {PHONE_PLACEHOLDER} 携帯 {PHONE_PLACEHOLDER}、{PHONE_PLACEHOLDER}"
    assert result.found == ("phone", "phone", "phone")


@pytest.mark.parametrize(
    "address",
    [
        "taro.yamada@example.co.jp",
        "hanako+city@gmail.com",
        "09012345678@docomo.ne.jp",
        "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "taro＠example.com",
        "user_01@mail.city-example.jp",
        # The @ written out to keep crawlers away.
        "taro [at] example.com",
        "taro(at)example.com",
        "taro (AT) example (dot) co (dot) jp",
        "ｔａｒｏ［ａｔ］ｅｘａｍｐｌｅ．ｃｏｍ",
        "taro【アット】example.com",
        "taroアットマークexample.com",
        "taro@example．com",
    ],
)
def test_email_addresses_are_masked(address: str) -> None:
    result = mask_personal_data(f"返信は{address}までお願いします。")
    assert result == MaskResult(f"返信は{EMAIL_PLACEHOLDER}までお願いします。", ("email",))


@pytest.mark.parametrize("instruction", ["（★を@に変えてください）", " ★は半角の＠に"])
def test_an_email_address_with_its_at_replaced_by_a_mark_the_text_names_is_masked(instruction: str) -> None:
    result = mask_personal_data(f"返信はtaro★example.com{instruction}")
    assert result == MaskResult(f"返信は{EMAIL_PLACEHOLDER}{instruction}", ("email",))


def test_email_inside_a_url_is_masked_but_the_url_is_kept() -> None:
    result = mask_personal_data("https://example.jp/form?mail=taro@example.com を見て")
    assert result.text == f"https://example.jp/form?mail={EMAIL_PLACEHOLDER} を見て"


@pytest.mark.parametrize(
    "number",
    ["1234-5678-9012", "1234 5678 9012", "123456789012", "１２３４－５６７８－９０１２",
     "1234.5678.9012", "1234  5678  9012", "一二三四五六七八九〇一二", "１２３４・５６７８・９０１２"],
)
def test_my_number_like_numbers_are_masked(number: str) -> None:
    result = mask_personal_data(f"マイナンバーは{number}です")
    assert result == MaskResult(f"マイナンバーは{MY_NUMBER_PLACEHOLDER}です", ("my_number",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("〒260-8722 千葉市中央区千葉港1-1", ADDRESS_PLACEHOLDER),
        ("〒2608722", ADDRESS_PLACEHOLDER),
        ("〒２６０－８７２２　千葉市中央区千葉港１－１", ADDRESS_PLACEHOLDER),
        ("郵便番号260-8722", f"郵便番号{ADDRESS_PLACEHOLDER}"),
        ("郵便番号は２６０ー８７２２です", f"郵便番号は{ADDRESS_PLACEHOLDER}です"),
        ("〒260-8722 千葉市中央区千葉港1-1に住んでいます。", f"{ADDRESS_PLACEHOLDER}。"),
        ("送付先：〒260-8722 千葉市中央区千葉港1-1、山田宛", f"送付先：{ADDRESS_PLACEHOLDER}、山田宛"),
        ("住所：千葉市中央区千葉港1-1です。", f"住所：{ADDRESS_PLACEHOLDER}。"),
        ("住所は千葉県千葉市中央区千葉港一丁目", f"住所は{ADDRESS_PLACEHOLDER}"),
        # A postal code without 〒, followed by a place name.
        ("260-8722 千葉市中央区千葉港1-1", ADDRESS_PLACEHOLDER),
        ("送り先は2608722千葉県千葉市中央区千葉港1-1です", f"送り先は{ADDRESS_PLACEHOLDER}"),  # (to the clause's end, as after 〒)
        # No label: a 市/区/町/村 place name followed by a block number.
        ("中央区千葉港1丁目1番1号", ADDRESS_PLACEHOLDER),
        ("千葉市中央区千葉港1-1に住んでいます", f"{ADDRESS_PLACEHOLDER}に住んでいます"),
        ("実家は美浜区真砂3-12-5です。", f"実家は{ADDRESS_PLACEHOLDER}です。"),
        ("若葉区桜木北２丁目１５番", ADDRESS_PLACEHOLDER),
        # Block numbers in kanji numerals, with の, and a postal code spaced after 〒.
        ("千葉市中央区千葉港一丁目一番一号", ADDRESS_PLACEHOLDER),
        ("千葉市中央区千葉港一番地", ADDRESS_PLACEHOLDER),
        ("千葉市中央区千葉港十二番地の三です", f"{ADDRESS_PLACEHOLDER}です"),
        ("住所は千葉市中央区千葉港一番一号です", f"住所は{ADDRESS_PLACEHOLDER}"),
        ("千葉市中央区千葉港1の1", ADDRESS_PLACEHOLDER),
        ("千葉市中央区千葉港1番地の1に住んでいます", f"{ADDRESS_PLACEHOLDER}に住んでいます"),
        ("中央区千葉港1-1の2階", f"{ADDRESS_PLACEHOLDER}の2階"),
        ("〒260 8722 千葉市", ADDRESS_PLACEHOLDER),
        ("郵便番号 260 8722", f"郵便番号 {ADDRESS_PLACEHOLDER}"),
    ],
)
def test_postal_addresses_are_masked(text: str, expected: str) -> None:
    result = mask_personal_data(text)
    assert result.text == expected
    assert result.found == ("postal_address",)


@pytest.mark.parametrize(
    "url",
    ["https://example.jp/form?tel=09012345678", "https://example.jp/call#090-1234-5678",
     "https://example.jp/c?name=taro&phone=0432455111&x=1"],
)
def test_a_phone_number_in_a_urls_query_is_masked(url: str) -> None:
    result = mask_personal_data(f"詳しくは {url} を見て")
    assert result.found == ("phone",)
    assert PHONE_PLACEHOLDER in result.text and not re.search(r"0\d{9}", result.text.replace("-", ""))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("詳細 https://www.city.chiba.jp/faq,090-1234-5678", f"詳細 https://www.city.chiba.jp/faq,{PHONE_PLACEHOLDER}"),
        ("https://www.city.chiba.jp/faq(090-1234-5678)", f"https://www.city.chiba.jp/faq({PHONE_PLACEHOLDER})"),
        ("https://www.city.chiba.jp/faq;090-1234-5678.", f"https://www.city.chiba.jp/faq;{PHONE_PLACEHOLDER}."),
        ('見ました https://x.com/a/status/1"090-1234-5678', f'見ました https://x.com/a/status/1"{PHONE_PLACEHOLDER}'),
    ],
)
def test_a_phone_number_typed_right_after_a_url_is_masked_and_the_url_kept(text: str, expected: str) -> None:
    # ASCII right after a URL reads as more of it, and a URL's path is left alone (page ids): the URL ends
    # before a comma, semicolon or bracket followed by nothing but a phone number, and at a " (never in a URL).
    assert mask_personal_data(text) == MaskResult(expected, ("phone",))


def test_an_office_phone_number_after_a_place_name_is_a_phone_number_not_an_address() -> None:
    # House numbers never start with 0: "区役所043-…" is a phone number.
    assert mask_personal_data("中央区役所043-221-2111") == MaskResult(f"中央区役所{PHONE_PLACEHOLDER}", ("phone",))


@pytest.mark.parametrize("text", ["(010)000-0000中市", "（０１０）０００−００００中市", "( 043 ) 245-5111 千葉市中央区千葉港1-1"])
def test_a_number_with_its_area_code_in_brackets_is_a_phone_number_though_its_last_digits_read_as_a_postal_code(
        text: str) -> None:
    # Found by the property test below: "000-0000中市" was taken for a postal code and place, and "(010)" was shown.
    result = mask_personal_data(text)
    assert not any(ch.isdigit() for ch in result.text), result.text
    assert result.text.startswith(PHONE_PLACEHOLDER) and "phone" in result.found


def test_address_stops_where_contact_details_start() -> None:
    result = mask_personal_data("〒260-8722 千葉市中央区千葉港1-1 TEL 043-245-5111 メール a@b.jp")
    assert result.text == f"{ADDRESS_PLACEHOLDER} TEL {PHONE_PLACEHOLDER} メール {EMAIL_PLACEHOLDER}"
    assert sorted(result.found) == ["email", "phone", "postal_address"]


def test_what_is_not_masked_reaches_staff_exactly_as_written() -> None:
    # Detection reads a folded copy (widths, dashes, spaces, zero-width characters); the masking happens in
    # the original, so half-width katakana, full-width brackets, runs of spaces and 〇〇 are left as they were.
    text = ("ｺﾞﾐ－ステーション（１２月）\u3000\u3000電話\u00a0\u00a0０９０\u200b－１２３４  ５６７８ です。"
            "〇〇さん、一番困っています\u3000ｔａｒｏ［ａｔ］ｅｘａｍｐｌｅ．ｃｏｍ！")
    assert mask_personal_data(text) == MaskResult(
        f"ｺﾞﾐ－ステーション（１２月）\u3000\u3000電話\u00a0\u00a0{PHONE_PLACEHOLDER} です。"
        f"〇〇さん、一番困っています\u3000{EMAIL_PLACEHOLDER}！", ("email", "phone"))


def test_placeholders_do_not_depend_on_length() -> None:
    assert mask_personal_data("03-1234-5678").text == mask_personal_data("090-1234-5678").text
    assert mask_personal_data("a@b.jp").text == mask_personal_data("a.very.long.name@example.co.jp").text


@pytest.mark.parametrize(
    "text",
    [
        "2026年11月23日に開催します",
        "令和8年11月23日(月)",
        "11/23の午後",
        "受付は10:00-12:00です",
        "9:00〜17:00",
        "2026-11-23",
        "2026.01.05 09.30",
        "参加費は12,000円、資料代1,200円",
        "2026年度の予算は123,456,789円",
        "第12条第3項",
        "中央区、花見川区、稲毛区、若葉区、緑区、美浜区",
        "詳しくは https://www.city.chiba.jp/ をご覧ください",
        "https://www.city.chiba.jp/kurashi/0312345678.html",
        # Real URLs with digits, commas and brackets stay as they are.
        "https://www.city.chiba.jp/kurashi/0312345678,0432455111.html",
        "https://www.city.chiba.jp/shimin/0120-123-456/index.html",
        "https://ja.wikipedia.org/wiki/Chiba_(city)",
        "https://www.city.chiba.jp/faq(1)",
        "https://x.com/chiba_city/status/1790000000000000001",
        "@koho_chiba さんへ",
        "info@city には届きません",
        "look at example.com",
        "評価は★5 example.com★の店",
        "カード番号 1234 5678 9012 3456",  # 16 digits: not a My Number
        "人口は約98万人、面積は271.76km²",
        "住所が変わったので2月に手続きに行きます",
        "住所変更の手続きは3月31日まで",
        "260-8722",  # a postal code without 〒 or a label is not enough context
        "整理番号 0120-1234-567",  # 11 digits, but 0120 numbers have 10: not a phone number
        "千葉市の2026-11-23の行事",  # a place name and a date: no block number
        "美浜区で3-4件の停電",
        # Numbers folded for detection (kanji digits, wave dashes, dots, spaces) that are not personal data.
        "2026年12月7日 10:00〜12:00",
        "12/7 10:00 に伺います",
        "営業時間 0800〜1700",
        "二〇二六年十二月七日",
        "一番困っています",
        "第一回の説明会、三十分ほど",
        "〇〇さんから電話がありました",
        "〇〇〇〇〇〇〇〇〇〇〇〇",  # twelve "so-and-so" marks, not a My Number
        "カード番号 1234.5678.9012.3456",
        "カード番号 1234  5678  9012  3456",
        "1,234件、12,000円、03. 12. 2026",
        "0.5倍 1 2 3 4 5",
        # Kanji numerals and の in prose: an address needs a place name right before its block number.
        "千葉市内一番のラーメン屋",
        "一丁目の角を曲がったところ",
        "1の1で割ると1",
        "美浜区で3の倍数の家",
        "260 8722",
        # Dates and times with slashes: too few digits for a number, or glued to their year.
        "2026/12/07",
        "03/12/2026",
        "2026/03/12 09/30",
        "2026/03/1234/5678",
        "令和8年度/2026/2027年度の計画",
    ],
)
def test_common_city_text_is_left_alone(text: str) -> None:
    assert mask_personal_data(text) == MaskResult(text, ())


def test_masking_is_idempotent_on_examples() -> None:
    text = "〒260-8722 千葉市中央区千葉港1-1 090-1234-5678 a@b.jp 1234-5678-9012 郵便番号260-8722"
    once = mask_personal_data(text).text
    assert mask_personal_data(once) == MaskResult(once, ())


def test_my_number_next_to_a_phone_number_is_masked_too() -> None:
    # The My Number is only recognisable once the phone number before it is a placeholder.
    result = mask_personal_data("090-1234-5678 1234 5678 9012")
    assert result.text == f"{PHONE_PLACEHOLDER} {MY_NUMBER_PLACEHOLDER}"


# --- properties -------------------------------------------------------------------------------

_PHONE_ISH = st.text(alphabet="0123456789０９-－ー−‐ .()（）+＋@＠〒郵便番号住所千葉市区丁目ab.jp\n、。")


@given(st.text())
def test_masking_is_idempotent(text: str) -> None:
    once = mask_personal_data(text).text
    assert mask_personal_data(once) == MaskResult(once, ())


@given(_PHONE_ISH)
def test_masking_is_idempotent_on_number_heavy_text(text: str) -> None:
    once = mask_personal_data(text).text
    assert mask_personal_data(once) == MaskResult(once, ())


# Text around the personal data: Japanese, Latin letters and punctuation, but no digits, @ or URL
# characters, so any digit left in the output must have come from the number we planted.
_FILLER = st.text(
    alphabet="ごみの日はいつですか市役所千葉中央区電話連絡先 abcXYZ、。！？「」（）：\n\u3000", max_size=15
)
_DASHES = ["-", "－", "ー", "−", "‐", "―", " ", ".", "", "〜", "～", "・", "一", "  ", "\u00a0", ". ", "/", "／"]


def _to_full_width(text: str) -> str:
    return text.translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})


@st.composite
def national_phone_numbers(draw: st.DrawFn) -> list[str]:
    """Digit groups of a valid Japanese number, e.g. ["03", "1234", "5678"]."""
    kind = draw(st.sampled_from(["mobile", "landline", "toll_free", "ip"]))

    def run(n: int) -> str:
        return draw(st.text(alphabet="0123456789", min_size=n, max_size=n))

    if kind == "mobile":
        return [draw(st.sampled_from(["070", "080", "090"])), run(4), run(4)]
    if kind == "ip":
        return ["050", run(4), run(4)]
    if kind == "toll_free":
        return draw(st.sampled_from([["0120", run(3), run(3)], ["0800", run(3), run(4)]]))
    area_length = draw(st.integers(min_value=2, max_value=5))  # 03, 043, 0475, 01267
    area = "0" + draw(st.sampled_from("123456789")) + run(area_length - 2)
    return [area, run(6 - area_length), run(4)]


@st.composite
def rendered_phone_numbers(draw: st.DrawFn) -> str:
    groups = draw(national_phone_numbers())
    separator = draw(st.sampled_from(_DASHES))
    style = draw(st.sampled_from(["plain", "parenthesised_area", "parenthesised_middle", "international"]))
    if style == "parenthesised_area":
        number = f"({groups[0]}){groups[1]}{separator or '-'}{groups[2]}"
    elif style == "parenthesised_middle":
        number = f"{groups[0]}({groups[1]}){groups[2]}"
    elif style == "international":
        number = "+81" + separator + separator.join([groups[0][1:], *groups[1:]])
    else:
        number = separator.join(groups)
    return _to_full_width(number) if draw(st.booleans()) else number


@given(before=_FILLER, number=rendered_phone_numbers(), after=_FILLER)
def test_no_phone_number_survives_masking(before: str, number: str, after: str) -> None:
    result = mask_personal_data(before + number + after)
    assert not any(ch.isdigit() for ch in result.text), result.text
    assert "phone" in result.found


_EMAIL_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@st.composite
def email_addresses(draw: st.DrawFn) -> str:
    local = draw(st.lists(_EMAIL_WORD, min_size=1, max_size=3))
    labels = draw(st.lists(_EMAIL_WORD, min_size=1, max_size=3))
    tld = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6))
    separator = draw(st.sampled_from([".", "_", "-", "+"]))
    address = f"{separator.join(local)}@{'.'.join(labels)}.{tld}"
    if draw(st.booleans()):
        address = address.translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})  # ＠ａ．…
    return address


@given(before=_FILLER, address=email_addresses(), after=_FILLER)
def test_no_email_address_survives_masking(before: str, address: str, after: str) -> None:
    result = mask_personal_data(before + address + after)
    assert address not in result.text
    assert not re.search("[@＠]", result.text)
    assert result.found == ("email",)
