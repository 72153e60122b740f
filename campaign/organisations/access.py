"""The member space: who is signed in through an emailed management link, and what it
reads of personal data (the audit log names the organisation: no organiser signs in here).

Both the organisations and the rallies pages of the member space ask.
"""

from __future__ import annotations

import time
from typing import TypeVar

from flask import session

from campaign.core import audit as audit_log
from campaign.extensions import db
from campaign.organisations import services
from campaign.organisations.models import Organisation

MANAGE_SESSION_SECONDS = 2 * 3600
R = TypeVar("R")


def _still_valid(key: str) -> bool:
    """Session deadlines are numbers we wrote; anything else counts as signed out."""
    until = session.get(key)
    return isinstance(until, int | float) and until > time.time()


def open_management(organisation: Organisation) -> None:
    session["managed_organisation"] = organisation.id
    session["managed_until"] = time.time() + MANAGE_SESSION_SECONDS


def managed_organisation() -> Organisation | None:
    if not _still_valid("managed_until"):
        return None
    return services.member_for_management(session.get("managed_organisation"))


def who(organisation: Organisation) -> str:
    """How the audit log names a member organisation."""
    return f"Organisation membre : {organisation.name} (#{organisation.id})"


def audited(page: R, organisation: Organisation, action: str, what: str, rows: int) -> R:
    """`page`, once the one audit entry of this request is committed (called once the
    page is built: committing earlier would expire the rows it shows)."""
    audit_log.record(who(organisation), action, what, rows)
    db.session.commit()
    return page
