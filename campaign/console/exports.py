"""Exports of counts and of the signatories (to be built)."""

from __future__ import annotations

from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import Role


@bp.get("/exports")
@requires(Role.ORGANISER)
def exports() -> str:
    return "TODO"
