"""Accounts as posts see them: the register's row, which is the truth once seeded (an account opened,
edited or handed over in Slack lives only there), else the organisation file's entry."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.organization import Account, Organization
from bot.workflows.accounts.models import RegisterAccount


def account_for(session: Session, org: Organization, account_id: str) -> Account | None:
    row = session.get(RegisterAccount, account_id)
    if row is None:
        return org.account(account_id)
    return Account(id=row.id, platform=row.platform, name=row.name, handle=row.handle, department=row.department_id,
                   kind=row.kind, url=row.url, manager=row.manager, operators=tuple(row.operators or ()))
