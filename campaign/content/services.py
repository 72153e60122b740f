"""Reading the collective, and loading its content from a data file."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from campaign.content.models import Collective, Demand, KeyFigure
from campaign.extensions import db
from campaign.petition.models import Petition, PetitionStatus
from campaign.places import gazetteer
from campaign.places.gazetteer import fold
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus

DATA_DIR = Path(__file__).parent / "data"
DEMO_FILE = DATA_DIR / "les-400000.toml"


def current_collective() -> Collective | None:
    """The deployment's collective (one per site)."""
    return db.session.execute(select(Collective).order_by(Collective.id).limit(1)).scalar()


def is_empty() -> bool:
    return db.session.execute(select(func.count(Collective.id))).scalar_one() == 0


PARIS = ZoneInfo("Europe/Paris")


def _date(value: Any) -> datetime | None:
    """TOML dates and times without an offset are French local time."""
    if not value:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=PARIS)


def load_content(path: Path = DEMO_FILE) -> Collective:
    """Create the collective, its demands, figures and petitions from a TOML file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    c = data["collective"]
    collective = Collective(
        slug=c["slug"],
        name=c["name"],
        tagline=c.get("tagline", ""),
        presentation=c.get("presentation", "").strip(),
        coordinator=c.get("coordinator", ""),
        website=c.get("website", ""),
        source=c.get("source", ""),
    )
    collective.demands = [
        Demand(position=i, title=d["title"].strip(), text=d["text"].strip())
        for i, d in enumerate(data.get("demands", []), start=1)
    ]
    collective.key_figures = [
        KeyFigure(
            position=i,
            value=f["value"],
            label=f["label"].strip(),
            source=f["source"].strip(),
            source_url=f.get("source_url", ""),
        )
        for i, f in enumerate(data.get("key_figures", []), start=1)
    ]
    db.session.add(collective)
    by_position = {d.position: d for d in collective.demands}
    for p in data.get("petitions", []):
        db.session.add(
            Petition(
                collective=collective,
                slug=p["slug"],
                title=p["title"].strip(),
                addressee=p["addressee"].strip(),
                summary=p.get("summary", "").strip(),
                text=p["text"].strip(),
                call_to_action=p.get("call_to_action", "Signez maintenant"),
                target=int(p.get("target", 0)),
                status=PetitionStatus(p.get("status", "draft")),
                opens_at=_date(p.get("opens_at")),
                closes_at=_date(p.get("closes_at")),
                demands=[by_position[n] for n in p.get("demands", [])],
            )
        )
    for d in data.get("mobilisation_days", []):
        db.session.add(_mobilisation_day(collective, d))
    db.session.flush()
    return collective


def _mobilisation_day(collective: Collective, data: dict[str, Any]) -> MobilisationDay:
    """A day and its cities' rallies: published, venue and time « à préciser » (left
    empty) unless the file gives them, placed at the city's centre."""
    day = MobilisationDay(
        collective=collective,
        slug=data["slug"],
        title=data["title"].strip(),
        date=date.fromisoformat(str(data["date"])),
        presentation=data.get("presentation", "").strip(),
    )
    for city in data.get("cities", []):
        commune = next(c for c in gazetteer.find(city) if gazetteer.fold(c.name) == fold(city))
        day.rallies.append(
            Rally(
                status=RallyStatus.PUBLISHED,
                city=city,
                commune_insee=commune.insee,
                departement=commune.departement,
                latitude=commune.lat,
                longitude=commune.lon,
                date=day.date,
            )
        )
    return day
