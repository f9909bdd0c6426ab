"""Lists in Japanese text are joined with 「、」, English with ", "; one word for the one-day target."""

from bot.i18n import Translator, catalog
from tests.emergency_support import approve_routine, declare, end_emergency, propose
from tests.test_emergency_held_posts import review_message, texts


def test_a_list_is_joined_as_each_language_writes_one():
    assert Translator("ja").join(["千葉市 公式X", "千葉市 公式LINE"]) == "千葉市 公式X、千葉市 公式LINE"
    assert Translator("en").join(["Chiba City X", "Chiba City LINE"]) == "Chiba City X, Chiba City LINE"


def test_a_held_post_for_two_accounts_lists_them_with_the_japanese_comma(koho):
    proposal_id = propose(koho, accounts=("city-x", "city-line"))
    approve_routine(koho, proposal_id)
    emergency_id = declare(koho)
    end_emergency(koho, emergency_id)
    assert "千葉市 公式X、千葉市 LINE" in texts(review_message(koho, emergency_id))


def test_the_one_day_acknowledgement_target_is_in_office_days_everywhere():
    texts_ja = " ".join(catalog("ja").values())
    assert "1営業日" not in texts_ja and "確認期限（1開庁日）超過" in texts_ja
