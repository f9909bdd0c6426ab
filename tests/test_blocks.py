"""Slack's limit on a message's text in all (`msg_blocks_too_long`): the pure rules that keep within it."""

from bot import blocks
from bot.blocks import MESSAGE_TEXT_BUDGET, clip_markup, fit_message, text_length


def message(*shown):
    return {"text": "通知", "blocks": list(shown)}


def test_text_length_counts_every_text_object_of_the_blocks_and_nothing_else():
    shown = [blocks.header("見出し"), blocks.section("本文", accessory=blocks.button("開く", "open", "v" * 100)),
             blocks.context("注", "注記"), {"type": "section", "fields": [blocks.mrkdwn_text("欄")]}]
    assert text_length(shown) == len("見出し") + len("本文") + len("開く") + len("注") + len("注記") + len("欄")


def test_a_message_within_the_budget_is_left_as_it_is():
    short = message(blocks.section("短い本文"))
    assert fit_message(short) is short


def test_the_longest_texts_give_way_alike_until_the_message_fits_and_nothing_else_changes():
    long_rows = [blocks.section("行" * 2900, block_id=f"row-{n}", accessory=blocks.button("確認", "ack", str(n)))
                 for n in range(5)]
    original = message(blocks.header("市民の声 5件"), blocks.context("案内"), *long_rows, blocks.section("短い"))
    fitted = fit_message(original)

    assert text_length(fitted["blocks"]) <= MESSAGE_TEXT_BUDGET
    assert text_length(original["blocks"]) > MESSAGE_TEXT_BUDGET  # the original is not changed
    rows = fitted["blocks"][2:7]
    assert len({len(r["text"]["text"]) for r in rows}) == 1 and rows[0]["text"]["text"].endswith("…")
    assert [r["block_id"] for r in rows] == [f"row-{n}" for n in range(5)]
    assert [r["accessory"] for r in rows] == [r["accessory"] for r in long_rows]
    assert fitted["blocks"][0] == original["blocks"][0] and fitted["blocks"][-1]["text"]["text"] == "短い"


def test_a_cut_never_falls_inside_a_link_a_mention_or_an_escape():
    link = "<https://example.slack.com/archives/C0KANKYO/p1|開く>"
    assert clip_markup("あ" * 10 + link, 20) == "あ" * 10 + "…"
    assert clip_markup("あ" * 10 + "&amp;" + "い" * 10, 13) == "あ" * 10 + "…"
    assert clip_markup("あ" * 10 + "&amp;" + "い" * 10, 17) == "あ" * 10 + "&amp;" + "い" + "…"
    assert clip_markup("短い", 20) == "短い"


def test_context_texts_are_kept_within_slacks_smaller_figure():
    [element] = blocks.context("理" * 5000)["elements"]
    assert len(element["text"]) == blocks.CONTEXT_TEXT_MAX


# -- select menus: at most 100 options, and the ones a select starts with always among them -----------


def options(count, prefix="d"):
    return [blocks.option(f"部署{n}", f"{prefix}{n}") for n in range(1, count + 1)]


def test_options_within_the_limit_are_left_as_they_are():
    few = options(100)
    assert blocks.fit_options(few, keep=["d7"]) == (few, 0)


def test_past_the_limit_the_kept_ones_stay_in_their_place_and_the_last_others_give_way():
    many = options(130)
    shown, left_out = blocks.fit_options(many, keep=["d125", None])
    assert len(shown) == blocks.SELECT_OPTIONS_MAX and left_out == 30
    assert [o["value"] for o in shown] == [f"d{n}" for n in range(1, 100)] + ["d125"]


def test_within_keeps_what_it_is_told_first_and_the_order_of_everything():
    assert blocks.within(list(range(10)), 4) == [0, 1, 2, 3]
    assert blocks.within(list(range(10)), 4, keep=lambda n: n in (8, 2)) == [0, 1, 2, 8]
    assert blocks.within(list(range(10)), 2, keep=lambda n: n > 5) == [6, 7]  # more to keep than room: the first
