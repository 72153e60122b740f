"""The home page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from campaign.content.services import current_collective
from campaign.core import pagecache
from campaign.organisations.services import member_count
from campaign.petition import counting, services
from campaign.rallies import services as rally_services
from campaign.rallies.models import MobilisationDay, today

bp = Blueprint("content", __name__)
pagecache.page(r"/")


@bp.get("/")
def home() -> str:
    collective = current_collective()
    # Open ones first, then upcoming, then closed or handed over (services.home_petitions).
    petitions = services.home_petitions(collective.id) if collective else []
    return render_template(
        "content/home.html",
        collective=collective,
        petitions=petitions,
        counts=counting.counts([p.id for p in petitions]),
        stage=services.stage,
        member_count=member_count(),
        next_day=_next_day(),
        today=today(),
    )


def _next_day() -> MobilisationDay | None:
    """The next mobilisation day, or the latest past one."""
    collective = current_collective()
    days = rally_services.days(collective) if collective else []
    return days[0] if days else None


@bp.get("/donnees-personnelles")
def privacy() -> str:
    return render_template(
        "content/privacy.html",
        collective=current_collective(),
        purge_days=current_app.config["PURGE_UNCONFIRMED_DAYS"],
        ttl_hours=current_app.config["CONFIRMATION_TTL_HOURS"],
    )
