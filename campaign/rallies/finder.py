"""Finding the rallies nearest to a person: from a postcode, a commune name or a position.

The database is asked for visible rallies inside a box around the person (the latitude
index narrows it to a band), and the box widens until enough rallies are found; the
exact distances are then computed here. Upcoming rallies come first, past ones after.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from campaign.extensions import db
from campaign.places import gazetteer
from campaign.places.gazetteer import Commune
from campaign.rallies.models import VISIBLE, Rally, RallyStatus

NEAR_KM = 100  # farther than this, the page says there is no rally near you
_RADII_KM = (30, 120, 500, None)  # None: everywhere
_KM_PER_DEGREE = 111.19  # a shade under the true 111.195: the box never cuts the circle


@dataclass(frozen=True)
class Place:
    label: str  # « Lyon 3e Arrondissement (69) », « votre position »
    lat: float
    lon: float
    approximate: bool = False  # the commune's position is only its département's centre


@dataclass(frozen=True)
class Hit:
    rally: Rally
    km: float


@dataclass
class Results:
    place: Place
    upcoming: list[Hit] = field(default_factory=list)
    past: list[Hit] = field(default_factory=list)

    @property
    def near(self) -> bool:
        """A rally within NEAR_KM that will take place (a cancelled one does not count)."""
        return any(
            hit.km <= NEAR_KM and hit.rally.status is RallyStatus.PUBLISHED for hit in self.upcoming
        )


def _candidates(
    lat: float, lon: float, radius: float | None, upcoming: bool, today: date
) -> list[tuple[int, float, float]]:
    query = select(Rally.id, Rally.latitude, Rally.longitude).where(Rally.status.in_(VISIBLE))
    query = query.where(Rally.date >= today if upcoming else Rally.date < today)
    if radius is not None:
        dlat = radius / _KM_PER_DEGREE
        # Near the poles a degree of longitude shrinks to nothing: then take every longitude.
        cos = math.cos(math.radians(min(abs(lat) + dlat, 89.9)))
        dlon = radius / (_KM_PER_DEGREE * cos)
        query = query.where(Rally.latitude.between(lat - dlat, lat + dlat))
        if abs(lat) + dlat < 90 and abs(lon) + dlon <= 180:  # else it wraps: every longitude
            query = query.where(Rally.longitude.between(lon - dlon, lon + dlon))
    return [(rally_id, rlat, rlon) for rally_id, rlat, rlon in db.session.execute(query)]


def _nearest_ids(
    lat: float, lon: float, limit: int, upcoming: bool, today: date
) -> list[tuple[int, float]]:
    for radius in _RADII_KM:
        found = [
            (rally_id, gazetteer.distance_km(lat, lon, rlat, rlon))
            for rally_id, rlat, rlon in _candidates(lat, lon, radius, upcoming, today)
        ]
        # Only rallies within the radius are surely in order: one just outside the circle
        # but inside the box may be farther than one not fetched yet.
        inside = sorted((f for f in found if radius is None or f[1] <= radius), key=lambda f: f[1])
        if len(inside) >= limit or radius is None:
            return inside[:limit]
    return []  # not reached: the last radius is None


def nearest(place: Place, today: date, upcoming_limit: int = 10, past_limit: int = 5) -> Results:
    upcoming = _nearest_ids(place.lat, place.lon, upcoming_limit, True, today)
    past = _nearest_ids(place.lat, place.lon, past_limit, False, today)
    ids = [rally_id for rally_id, _ in upcoming + past]
    rallies = {
        r.id: r
        # The result list shows the rally itself only: no organisers or day to load.
        for r in db.session.execute(select(Rally).where(Rally.id.in_(ids))).scalars()
    }
    return Results(
        place,
        [Hit(rallies[i], km) for i, km in upcoming],
        [Hit(rallies[i], km) for i, km in past],
    )


@dataclass(frozen=True)
class Resolution:
    """What a search resolved to: one place, several communes to choose from, or an error."""

    place: Place | None = None
    choices: list[Commune] = field(default_factory=list)
    error: str | None = None


def commune_place(commune: Commune) -> Place:
    return Place(commune.label, commune.lat, commune.lon, commune.approximate)


def resolve(query: str) -> Resolution:
    """A postcode or a commune name, as typed in the finder."""
    text = unicodedata.normalize("NFKC", query or "").strip()
    if not text:
        return Resolution(error="Indiquez un code postal ou le nom d’une commune.")
    found = gazetteer.find(text, limit=50)  # every homonym: there are 12 Sainte-Colombe
    if text.isdigit() and len(text) == 5 and not found:
        return Resolution(
            error=f"Le code postal {text} n’existe pas. Vérifiez-le, par exemple 75011."
        )
    if text.isdigit() and len(text) != 5:
        return Resolution(error="Un code postal a 5 chiffres, par exemple 75011.")
    if not found:
        return Resolution(
            error=f"Aucune commune ne s’appelle « {text[:60]} ». Essayez avec le code postal."
        )
    exact = [c for c in found if gazetteer.fold(c.name) == gazetteer.fold(text)]
    if text.isdigit():
        # A postcode's communes lie close together: search from the largest, offer the rest.
        return Resolution(place=commune_place(found[0]), choices=found[1:])
    if len(found) == 1 or len(exact) == 1:
        return Resolution(place=commune_place(exact[0] if exact else found[0]))
    return Resolution(choices=exact or found[:20])


def position(lat_text: str, lon_text: str) -> Resolution:
    """Coordinates sent by the browser's « use my location »."""
    try:
        lat, lon = float(lat_text), float(lon_text)
    except (TypeError, ValueError):
        return Resolution(error="Position illisible : cherchez plutôt par code postal.")
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        return Resolution(
            error="Position hors limites (latitude entre -90 et 90, longitude entre -180 et 180)."
        )
    return Resolution(place=Place("votre position", lat, lon))
