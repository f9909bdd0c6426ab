"""The App Home tab, rendered from the database for the person looking at it."""

from __future__ import annotations

from typing import Any

from bot import blocks
from bot.views import RenderContext, renders
from bot.views.accounts import pr_office_sections
from bot.views.proposals import home_sections


def help_text(ctx_tr: Any, org: Any, user_id: str) -> str:
    joiner = "、" if ctx_tr.locale == "ja" else ", "
    roles = joiner.join(ctx_tr.plain(f"roles.{r}") for r in org.roles_of(user_id))
    return ctx_tr.render("help.md.j2", org=org.name, roles=roles)


@renders("home")
def home(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    user_id = ref["user_id"]
    tr = ctx.tr
    return {
        "type": "home",
        "blocks": [
            blocks.header(tr.plain("home.title")),
            blocks.section(tr.t("home.intro", org=ctx.org.name)),
            *home_sections(ctx, user_id),
            *(pr_office_sections(ctx, user_id) if ctx.org.is_pr_approver(user_id) else []),
            blocks.divider(),
            *blocks.long_text_sections(help_text(tr, ctx.org, user_id)),
        ],
    }
