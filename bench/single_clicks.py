"""Click-to-update of single clicks: one approve click at a time, with a pause in between.

    python -m bench.single_clicks [--backend sqlite] [--clicks 25] [--pause 0.8]

The click case of `bench.run` clicks again as soon as the previous card is updated, while that
click's App Homes and DMs are still going out; this one waits `--pause` seconds between clicks, so
each is measured alone: an approver looking at the card they just approved. Same bot, same fake
Slack (zero latency), same seeding as the click case; the first clicks are warm-up and not counted.
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa

from bench.cases import CLICK_WARM_UP, pending_steps, step_message_key, submit_proposals
from bench.harness import Series, bot_on, deliver_seeded
from bot.models import SlackMessage
from tests.harness.fake_slack import FakeSlack


def measure(backend: str, clicks: int, pause: float) -> Series:
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    series = Series()
    try:
        def seed(bot) -> None:  # noqa: ANN001
            submit_proposals(bot, CLICK_WARM_UP + clicks)
            deliver_seeded(bot)

        with bot_on(backend, fake, seed=seed) as bot:
            db = bot.database()
            with db.read() as session:
                posted = dict(session.execute(sa.select(SlackMessage.message_key, SlackMessage.ts)).all())
            db.dispose()
            for n, (step_id, approver) in enumerate(pending_steps(bot)):
                ts = posted[step_message_key(step_id)]
                time.sleep(pause)
                started = time.time()
                status = bot.slack.block_action(approver, "proposal_approve", str(step_id), strict=False).status
                [call] = fake.wait_for("chat.update", predicate=lambda c, ts=ts: c.args.get("ts") == ts and c.ok,
                                       timeout=10)
                (series.warm_up if n < CLICK_WARM_UP else series.latencies).append(call.answered - started)
                series.errors += status != 200
    finally:
        fake.stop()
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--clicks", type=int, default=25)
    parser.add_argument("--pause", type=float, default=0.8, help="seconds between clicks")
    args = parser.parse_args()
    series = measure(args.backend, args.clicks, args.pause)
    print(f"{args.backend}: {len(series.latencies)} single clicks, click-to-update p50 {series.p50:.1f} ms, "
          f"p99 {series.pct(99):.1f} ms, max {series.max:.1f} ms, errors {series.errors}")


if __name__ == "__main__":
    main()
