"""Dashboard, moderation queues, paper signatures, rallies (to be built)."""

from __future__ import annotations

from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import Role


@bp.get("/tableau-de-bord")
@requires(Role.ORGANISER)
def dashboard() -> str:
    return "TODO"


@bp.get("/moderation")
@requires(Role.ORGANISER)
def moderation() -> str:
    return "TODO"


@bp.get("/papier")
@requires(Role.ORGANISER)
def paper() -> str:
    return "TODO"


@bp.get("/rassemblements")
@requires(Role.ORGANISER, Role.RALLY_ORGANISER)
def rallies() -> str:
    return "TODO"
