"""Editing the collective from the console: its identity, demands and key figures.

Services take plain values (already checked by the console's forms), flush and never
commit. Demands and figures keep a unique (collective_id, position): every reordering
goes through `_renumber`, which moves the rows out of the way before placing them.

`Brand` is what every page, email and kit document shows of the identity edited here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import exists, or_, select

from campaign.content.models import Collective, Demand, KeyFigure
from campaign.core import colour, images
from campaign.extensions import db
from campaign.organisations.services import logo_folder
from campaign.petition import editing as petition_editing
from campaign.petition.models import Petition, PetitionDemand, Signature
from campaign.places.gazetteer import fold

MAX_SOCIAL_LINKS = 8


@dataclass(frozen=True)
class Brand:
    """The collective as the site, emails and kit show it."""

    name: str
    short_name: str
    colour: str  # always a safe #rrggbb
    logo: str | None  # file name in logo_folder(), served by organisations.logo


def brand_of(collective: Collective | None) -> Brand:
    if collective is None:
        return Brand("Campagne", "Campagne", colour.DEFAULT, None)
    return Brand(
        collective.name,
        collective.display_short_name,
        colour.safe(collective.brand_colour),
        collective.logo,
    )


# --- identity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """What the identity form holds, checked."""

    name: str
    short_name: str
    tagline: str
    presentation: str
    coordinator: str
    website: str
    contact_email: str
    social_links: list[dict[str, str]]  # [{"label", "url"}], at most MAX_SOCIAL_LINKS
    brand_colour: str  # passes colour.brand_problem
    logo_png: bytes | None = None  # a new logo, already re-encoded (core/images.py)
    remove_logo: bool = False


_FIELDS = (
    ("name", "nom"),
    ("short_name", "nom court"),
    ("tagline", "accroche"),
    ("presentation", "présentation"),
    ("coordinator", "coordination"),
    ("website", "site web"),
    ("contact_email", "e-mail de contact"),
    ("social_links", "réseaux sociaux"),
    ("brand_colour", "couleur"),
)


def _new_slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")[:70] or "collectif"
    slug, n = base, 1
    while db.session.execute(select(exists().where(Collective.slug == slug))).scalar():
        n += 1
        slug = f"{base}-{n}"
    return slug


@dataclass(frozen=True)
class Saved:
    collective: Collective
    changed: list[str]  # French names of what changed, for the audit log
    stale_logo: str | None  # a replaced or removed logo: delete_logo() it after the commit


def save_identity(collective: Collective | None, identity: Identity) -> Saved:
    """Write the identity, creating the collective on a fresh site."""
    value = colour.normalise(identity.brand_colour)
    if value is None or colour.brand_problem(value):
        raise ValueError(f"brand colour refused: {identity.brand_colour!r}")
    if collective is None:
        collective = Collective(slug=_new_slug(identity.name), name=identity.name)
        db.session.add(collective)
    updates = {
        "name": identity.name,
        "short_name": identity.short_name,
        "tagline": identity.tagline,
        "presentation": identity.presentation,
        "coordinator": identity.coordinator,
        "website": identity.website,
        "contact_email": identity.contact_email,
        "social_links": list(identity.social_links[:MAX_SOCIAL_LINKS]),
        "brand_colour": value,
    }
    changed = []
    for field, label in _FIELDS:
        if getattr(collective, field) != updates[field]:
            setattr(collective, field, updates[field])
            changed.append(label)
    old_logo = collective.logo
    if identity.logo_png:
        collective.logo = images.store(logo_folder(), identity.logo_png)
        changed.append("logo")
    elif identity.remove_logo and old_logo:
        collective.logo = None
        changed.append("logo retiré")
    db.session.flush()
    return Saved(collective, changed, old_logo if collective.logo != old_logo else None)


def delete_logo(name: str | None) -> None:
    """Delete a logo file no longer used: after the commit, so a failed one keeps it."""
    if name:
        # Names are ours (images.store), but never follow one out of the folder.
        (logo_folder() / Path(name).name).unlink(missing_ok=True)


# --- ordered lists: demands and key figures ------------------------------------------------

Item = TypeVar("Item", Demand, KeyFigure)


def _renumber(items: list[Item]) -> None:
    """Positions 1..n in the order of `items`, in two flushed steps: first every row to a
    negative position none holds, then to its place. In one step, the database could
    meet two rows on one position halfway (rows are updated one by one)."""
    for i, item in enumerate(items, start=1):
        item.position = -i
    db.session.flush()
    for i, item in enumerate(items, start=1):
        item.position = i
    db.session.flush()


def _move(items: list[Item], item: Item, step: int) -> bool:
    """Move `item` one place up (step -1) or down (+1); False at either end."""
    index = items.index(item)
    target = index + step
    if not 0 <= target < len(items):
        return False
    items[index], items[target] = items[target], items[index]
    _renumber(items)
    return True


def _next_position(items: list[Item]) -> int:
    return max((i.position for i in items), default=0) + 1


def demand_of(collective: Collective, demand_id: int) -> Demand | None:
    demand = db.session.get(Demand, demand_id)
    return demand if demand is not None and demand.collective_id == collective.id else None


def figure_of(collective: Collective, figure_id: int) -> KeyFigure | None:
    figure = db.session.get(KeyFigure, figure_id)
    return figure if figure is not None and figure.collective_id == collective.id else None


def add_demand(collective: Collective, title: str, text: str) -> Demand:
    demand = Demand(
        collective=collective,
        position=_next_position(collective.demands),
        title=title,
        text=text,
    )
    db.session.add(demand)
    db.session.flush()
    return demand


def update_demand(
    demand: Demand, title: str, text: str, by: str = "", reason: str = ""
) -> list[Petition]:
    """Edit a demand. Each signed petition carrying it gets a new version of its text with
    `reason` (petition_editing.CorrectionReasonMissingError without one); those petitions."""
    signed = signed_petitions_carrying(demand)
    before = {p.id: petition_editing.locked_fields(p) for p in signed}
    if (demand.title, demand.text) == (title, text):
        return []
    demand.title, demand.text = title, text
    db.session.flush()
    for petition in signed:
        petition_editing.correct(petition, before[petition.id], by, reason)
    return signed


def move_demand(collective: Collective, demand: Demand, step: int) -> bool:
    return _move(list(collective.demands), demand, step)


def petitions_carrying(demand: Demand) -> list[Petition]:
    return list(
        db.session.execute(
            select(Petition)
            .join(PetitionDemand, PetitionDemand.petition_id == Petition.id)
            .where(PetitionDemand.demand_id == demand.id)
            .order_by(Petition.id)
        ).scalars()
    )


def signed_petitions_carrying(demand: Demand) -> list[Petition]:
    """Petitions with this demand that someone has signed (online, pending or not, or on
    paper): their signatories signed it, so it stays."""
    signed = exists().where(Signature.petition_id == Petition.id)
    return list(
        db.session.execute(
            select(Petition)
            .join(PetitionDemand, PetitionDemand.petition_id == Petition.id)
            .where(PetitionDemand.demand_id == demand.id)
            .where(or_(signed, Petition.paper_count > 0, Petition.signature_count > 0))
            .order_by(Petition.id)
        ).scalars()
    )


class DemandSignedError(Exception):
    """The demand is part of a petition already signed."""

    def __init__(self, petitions: list[Petition]) -> None:
        super().__init__(", ".join(p.slug for p in petitions))
        self.petitions = petitions


def remove_demand(collective: Collective, demand: Demand) -> list[Petition]:
    """Remove the demand from the collective and from the petitions that carry it (none
    of which is signed: DemandSignedError otherwise); return those petitions."""
    signed = signed_petitions_carrying(demand)
    if signed:
        raise DemandSignedError(signed)
    petitions = petitions_carrying(demand)
    for petition in petitions:
        # Through the petition's ordering list: its other demands close the gap, in order.
        for link in [link for link in petition.demand_links if link.demand_id == demand.id]:
            petition.demand_links.remove(link)
    db.session.flush()
    remaining = [d for d in collective.demands if d.id != demand.id]
    collective.demands.remove(demand)  # delete-orphan: the row goes
    db.session.flush()
    _renumber(remaining)
    return petitions


def add_figure(
    collective: Collective, value: str, label: str, source: str, source_url: str
) -> KeyFigure:
    if not source.strip():
        raise ValueError("a key figure needs its source")
    figure = KeyFigure(
        collective=collective,
        position=_next_position(collective.key_figures),
        value=value,
        label=label,
        source=source,
        source_url=source_url,
    )
    db.session.add(figure)
    db.session.flush()
    return figure


def update_figure(figure: KeyFigure, value: str, label: str, source: str, source_url: str) -> None:
    if not source.strip():
        raise ValueError("a key figure needs its source")
    figure.value, figure.label, figure.source, figure.source_url = value, label, source, source_url
    db.session.flush()


def move_figure(collective: Collective, figure: KeyFigure, step: int) -> bool:
    return _move(list(collective.key_figures), figure, step)


def remove_figure(collective: Collective, figure: KeyFigure) -> None:
    remaining = [f for f in collective.key_figures if f.id != figure.id]
    collective.key_figures.remove(figure)
    db.session.flush()
    _renumber(remaining)
