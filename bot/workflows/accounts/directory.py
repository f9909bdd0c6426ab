"""Accounts as posts see them: the register's row, which is the truth once seeded (an account opened,
edited or handed over in Slack lives only there), else the organisation file's entry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.organization import Account, Organization
from bot.workflows.accounts.models import RegisterAccount


def account_for(session: Session, org: Organization, account_id: str) -> Account | None:
    row = session.get(RegisterAccount, account_id)
    if row is None:
        return org.account(account_id)
    return Account(id=row.id, platform=row.platform, name=row.name, handle=row.handle, department=row.department_id,
                   kind=row.kind, url=row.url, manager=row.manager, operators=tuple(row.operators or ()))


def account_name(session: Session, org: Organization, account_id: str) -> str:
    """What people call the account ("千葉市 公式X"); its id if it is known nowhere any more."""
    account = account_for(session, org, account_id)
    return account.name if account is not None else account_id


def account_exists(db: Database, org: Organization, account_id: str) -> bool:
    """Whether a comment may come from `account_id` (one look-up, not the whole register)."""
    if org.account(account_id) is not None:
        return True
    with db.read() as session:
        return session.get(RegisterAccount, account_id) is not None


def account_ids(db: Database, org: Organization) -> set[str]:
    """Every account a comment may come from: the register's (withdrawn ones too: old posts still draw
    comments) and the organisation file's."""
    with db.read() as session:
        return {*session.scalars(select(RegisterAccount.id)), *(a.id for a in org.accounts)}
