"""Who is signed in, through the emailed links: a member organisation or a moderator.

Both the organisations and the rallies pages ask; the console issue replaces the
moderator's link with real accounts.
"""

from __future__ import annotations

import time

from flask import abort, session

from campaign.organisations import services
from campaign.organisations.models import Organisation

MANAGE_SESSION_SECONDS = 2 * 3600
MODERATION_SESSION_SECONDS = 4 * 3600


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


def open_moderation(moderator: str) -> None:
    session.clear()  # a new session for a new role
    session["moderator"] = moderator
    session["moderator_until"] = time.time() + MODERATION_SESSION_SECONDS


def current_moderator() -> str:
    """The signed-in moderator's name; 403 for anyone else."""
    moderator = session.get("moderator")
    if not _still_valid("moderator_until") or not isinstance(moderator, str) or not moderator:
        abort(403)
    return moderator
