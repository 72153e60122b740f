"""The campaign's content as a TOML file: `flask content dump FILE` and `flask content load FILE`.

A file holds the collective, its demands and key figures, its petitions (with their versions,
status history and official counts) and its mobilisation days with their rallies. Loading
creates or updates by slug in the caller's transaction and checks everything first: an
invalid file changes nothing and every problem names its field (and line, where it can be
found). docs/content-format.md describes the format; files written for the first demo
(days with a plain `cities` list) still load.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import tomli_w
from sqlalchemy import func, select

from campaign.content.models import Collective, Demand, KeyFigure
from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.petition.editing import has_signatures, locked_fields
from campaign.petition.models import (
    OfficialCount,
    Petition,
    PetitionStatus,
    PetitionStatusChange,
    PetitionVersion,
    Signature,
)
from campaign.places import gazetteer
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus

PARIS = ZoneInfo("Europe/Paris")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
Where = tuple[str | int, ...]  # ("petitions", 1, "target")
Table = dict[str, Any]


class ContentError(ValueError):
    """The file was refused; `problems` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- reading, with the place of each problem --------------------------------------------------


def _locate(source: str, path: Where) -> int | None:
    """The line of `path` (("petitions", 1, "target")) in the TOML text, where it can be
    found by its table headers and key; None otherwise."""
    lines = source.splitlines()
    start, end, prefix = 0, len(lines), ""
    i = 0
    while i < len(path):
        name = str(path[i])
        index = path[i + 1] if i + 1 < len(path) and isinstance(path[i + 1], int) else None
        full = f"{prefix}.{name}" if prefix else name
        if index is not None:
            header = re.compile(rf"^\s*\[\[\s*{re.escape(full)}\s*\]\]")
            hits = [n for n in range(start, end) if header.match(lines[n])]
            if index >= len(hits):
                return None
            start = hits[index] + 1
            nxt = [n for n in range(start, end) if re.match(r"^\s*\[", lines[n])]
            # The table runs to the next header that is not one of its own sub-tables.
            own = re.compile(rf"^\s*\[\[?\s*{re.escape(full)}\.")
            end = next((n for n in nxt if not own.match(lines[n])), end)
            prefix, i = full, i + 2
            continue
        header = re.compile(rf"^\s*\[\s*{re.escape(full)}\s*\]")
        hit = next((n for n in range(start, end) if header.match(lines[n])), None)
        if hit is not None and i + 1 < len(path):
            start, prefix, i = hit + 1, full, i + 1
            continue
        key = re.compile(rf"^\s*{re.escape(name)}\s*=")
        found = next((n for n in range(start, end) if key.match(lines[n])), None)
        if found is None or lines[found].lstrip().startswith("["):
            return None
        return found + 1
    return start or None


@dataclass
class _Reader:
    """Typed access to the parsed file that collects problems instead of stopping at one."""

    source: str
    problems: list[str] = field(default_factory=list)

    def problem(self, path: Where, message: str) -> None:
        where = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
        line = _locate(self.source, path)
        self.problems.append(f"{where}{f' (line {line})' if line else ''}: {message}")

    def get(
        self,
        table: Table,
        path: Where,
        kind: type | tuple[type, ...],
        default: Any = None,
        required: bool = False,
    ) -> Any:
        key = str(path[-1])
        if key not in table:
            if required:
                self.problem(path, "is required")
            return default
        value = table[key]
        if isinstance(value, bool) and kind is not bool:
            self.problem(path, f"must be {_kind_name(kind)}, not true/false")
            return default
        if not isinstance(value, kind):
            self.problem(path, f"must be {_kind_name(kind)}")
            return default
        return value

    def text(
        self,
        table: Table,
        path: Where,
        limit: int,
        required: bool = False,
        default: str = "",
    ) -> str:
        value = self.get(table, path, str, default, required)
        value = value.strip() if isinstance(value, str) else default
        if required and not value and str(path[-1]) in table:
            self.problem(path, "must not be empty")
        if len(value) > limit:
            self.problem(path, f"is too long ({len(value)} characters; {limit} at most)")
        return value

    def tables(self, data: Table, path: Where) -> list[Table]:
        value = self.get(data, path, list, [])
        if not all(isinstance(v, dict) for v in value):
            self.problem(path, "must be a list of tables ([[…]])")
            return []
        return value

    def slug(self, table: Table, path: Where) -> str:
        value = self.text(table, path, 80, required=True)
        if value and not SLUG.match(value):
            self.problem(
                path, "must be lower-case letters, digits and dashes (« quatre-urgences »)"
            )
        return value

    def when(self, table: Table, path: Where) -> datetime | None:
        """A date-time: without an offset it is Paris time."""
        value = self.get(table, path, (datetime, date, str), None)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.problem(path, "must be a date and time (2025-05-15T09:00:00)")
                return None
        if not isinstance(value, datetime):
            value = datetime.combine(value, time(0))
        return value if value.tzinfo else value.replace(tzinfo=PARIS)

    def day(self, table: Table, path: Where, required: bool = False) -> date | None:
        value = self.get(table, path, (date, str), None, required)
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                self.problem(path, "must be a date (2025-05-15)")
                return None
        return value

    def clock(self, table: Table, path: Where) -> time | None:
        value = self.get(table, path, (time, str), None)
        if isinstance(value, str):
            if value.strip().lower() in {"", "à préciser", "a preciser"}:
                return None
            try:
                return time.fromisoformat(value)
            except ValueError:
                self.problem(path, "must be a time (14:30) or « à préciser »")
                return None
        return value

    def whole(self, table: Table, path: Where, low: int, high: int, default: int) -> int:
        value = self.get(table, path, int, default)
        if not low <= value <= high:
            self.problem(path, f"must be between {low} and {high}")
            return default
        return value

    def choice(self, table: Table, path: Where, allowed: list[str], default: str) -> str:
        value = self.get(table, path, str, default)
        if value not in allowed:
            self.problem(path, f"must be one of {', '.join(allowed)}")
            return default
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "a whole number",
        list: "a list",
        dict: "a table",
        bool: "true/false",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if datetime in kinds:
        return "a date and time"
    if date in kinds:
        return "a date"
    if time in kinds:
        return "a time"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# --- loading ---------------------------------------------------------------------------------


def load_text(source: str) -> Collective:
    """Create or update the content described by `source` (TOML). Raises ContentError with
    every problem found; then nothing has been changed (the caller rolls back)."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError([f"not valid TOML: {exc}"]) from exc
    reader = _Reader(source)
    if not isinstance(data.get("collective"), dict):
        raise ContentError(["[collective]: the file has no [collective] table"])
    with db.session.no_autoflush:
        collective = _collective(reader, data["collective"])
        demands = _demands(reader, data, collective)
        _key_figures(reader, data, collective)
        for i, p in enumerate(reader.tables(data, ("petitions",))):
            _petition(reader, p, i, collective, demands)
        for i, d in enumerate(reader.tables(data, ("mobilisation_days",))):
            _day(reader, d, i, collective)
    if reader.problems:
        raise ContentError(reader.problems)
    db.session.flush()
    return collective


def _collective(reader: _Reader, c: Table) -> Collective:
    p = ("collective",)
    slug = reader.slug(c, (*p, "slug"))
    existing = db.session.execute(select(Collective).order_by(Collective.id).limit(1)).scalar()
    if existing is not None and slug and existing.slug != slug:
        reader.problem((*p, "slug"), f"this site runs the collective « {existing.slug} »")
    collective = existing or Collective(slug=slug)
    if existing is None:
        db.session.add(collective)
    collective.name = reader.text(c, (*p, "name"), 200, required=True)
    collective.short_name = reader.text(c, (*p, "short_name"), 60)
    collective.tagline = reader.text(c, (*p, "tagline"), 300)
    collective.presentation = reader.text(c, (*p, "presentation"), 20000)
    collective.coordinator = reader.text(c, (*p, "coordinator"), 200)
    collective.website = _url(reader, c, (*p, "website"), 300)
    collective.contact_email = reader.text(c, (*p, "contact_email"), 254)
    if collective.contact_email and "@" not in collective.contact_email:
        reader.problem((*p, "contact_email"), "must be an email address")
    collective.source = reader.text(c, (*p, "source"), 5000)
    colour = reader.text(c, (*p, "brand_colour"), 7, default="#b3261e") or "#b3261e"
    if not COLOUR.match(colour):
        reader.problem((*p, "brand_colour"), "must be a colour written #rrggbb")
    collective.brand_colour = colour.lower()
    links = []
    for i, link in enumerate(reader.tables(c, (*p, "social_links"))):
        label = reader.text(link, (*p, "social_links", i, "label"), 60, required=True)
        url = _url(reader, link, (*p, "social_links", i, "url"), 300, required=True)
        links.append({"label": label, "url": url})
    collective.social_links = links
    return collective


def _url(reader: _Reader, table: Table, path: Where, limit: int, **kw: Any) -> str:
    value = reader.text(table, path, limit, **kw)
    if value and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value):
        reader.problem(path, "must be a web address starting with https:// (or http://)")
    return value


def _sync(
    existing: list[Any], count: int, make: Callable[[int], Any], owner_list: Any
) -> Iterator[tuple[int, Any]]:
    """Rows kept by position: the first `count` are updated in place (so unique positions
    never clash), new ones appended; the caller drops the surplus."""
    for i in range(count):
        if i < len(existing):
            yield i, existing[i]
        else:
            row = make(i + 1)
            owner_list.append(row)
            yield i, row


def _demands(reader: _Reader, data: Table, collective: Collective) -> list[Demand]:
    items = reader.tables(data, ("demands",))
    existing = sorted(collective.demands, key=lambda d: d.position)
    rows = []
    for i, demand in _sync(existing, len(items), lambda n: Demand(position=n), collective.demands):
        demand.title = reader.text(items[i], ("demands", i, "title"), 300, required=True)
        demand.text = reader.text(items[i], ("demands", i, "text"), 5000, required=True)
        rows.append(demand)
    for gone in existing[len(items) :]:
        if gone.id and _carried_by_signed_petition(gone):
            reader.problem(
                ("demands",),
                f"demand {gone.position} « {gone.title} » is carried by a petition that has "
                "signatures: it cannot be removed",
            )
        else:
            collective.demands.remove(gone)
    return rows


def _carried_by_signed_petition(demand: Demand) -> bool:
    from campaign.petition.models import PetitionDemand

    return bool(
        db.session.execute(
            select(func.count(Signature.id))
            .join(PetitionDemand, PetitionDemand.petition_id == Signature.petition_id)
            .where(PetitionDemand.demand_id == demand.id)
        ).scalar_one()
    )


def _key_figures(reader: _Reader, data: Table, collective: Collective) -> None:
    items = reader.tables(data, ("key_figures",))
    existing = sorted(collective.key_figures, key=lambda f: f.position)
    for i, figure in _sync(
        existing, len(items), lambda n: KeyFigure(position=n), collective.key_figures
    ):
        p = ("key_figures", i)
        figure.value = reader.text(items[i], (*p, "value"), 40, required=True)
        figure.label = reader.text(items[i], (*p, "label"), 300, required=True)
        figure.source = reader.text(items[i], (*p, "source"), 5000, required=True)
        figure.source_url = _url(reader, items[i], (*p, "source_url"), 500)
    for gone in existing[len(items) :]:
        collective.key_figures.remove(gone)


STATUSES = [s.value for s in PetitionStatus]


def _petition(
    reader: _Reader, p: Table, i: int, collective: Collective, demands: list[Demand]
) -> None:
    path: Where = ("petitions", i)
    slug = reader.slug(p, (*path, "slug"))
    petition = db.session.execute(select(Petition).where(Petition.slug == slug)).scalar()
    if petition is None:
        petition = Petition(collective=collective, slug=slug, version=1)
        db.session.add(petition)
    signed = bool(petition.id) and has_signatures(petition)
    before = locked_fields(petition) if signed else None
    petition.title = reader.text(p, (*path, "title"), 300, required=True)
    petition.addressee = reader.text(p, (*path, "addressee"), 300, required=True)
    petition.summary = reader.text(p, (*path, "summary"), 500)
    petition.text = reader.text(p, (*path, "text"), 50000, required=True)
    petition.call_to_action = (
        reader.text(p, (*path, "call_to_action"), 120, default="Signez maintenant")
        or "Signez maintenant"
    )
    petition.target = reader.whole(p, (*path, "target"), 0, 100_000_000, 0)
    petition.status = PetitionStatus(reader.choice(p, (*path, "status"), STATUSES, "draft"))
    petition.opens_at = reader.when(p, (*path, "opens_at"))
    petition.closes_at = reader.when(p, (*path, "closes_at"))
    if petition.opens_at and petition.closes_at and petition.closes_at <= petition.opens_at:
        reader.problem((*path, "closes_at"), "must come after opens_at")
    official = _url(reader, p, (*path, "official_url"), 500)
    petition.official_url = official or None
    petition.handed_over_on = reader.day(p, (*path, "handed_over_on"))
    petition.handover_note = reader.text(p, (*path, "handover_note"), 5000)
    numbers = reader.get(p, (*path, "demands"), list, [])
    chosen = []
    for n in numbers:
        if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= len(demands):
            chosen.append(demands[n - 1])
        else:
            reader.problem((*path, "demands"), f"{n!r} is not the number of a demand in this file")
    if len(set(map(id, chosen))) != len(chosen):
        reader.problem((*path, "demands"), "names a demand twice")
    petition.demands = chosen
    version = reader.whole(p, (*path, "version"), 1, 10_000, 1)
    _versions(reader, p, path, petition)
    if signed and before != locked_fields(petition) and version <= petition.version:
        reader.problem(
            (*path, "text"),
            "the petition has signatures, so its title, summary, text and demands are "
            "locked: a correction needs a new version (version = "
            f"{petition.version + 1} and a [[petitions.versions]] entry with its reason)",
        )
    petition.version = version
    _history(reader, p, path, petition)
    _official_counts(reader, p, path, petition)


def _versions(reader: _Reader, p: Table, path: Where, petition: Petition) -> None:
    items = reader.tables(p, (*path, "versions"))
    by_number = {v.number: v for v in petition.versions}
    seen = set()
    for j, v in enumerate(items):
        vp = (*path, "versions", j)
        number = reader.whole(v, (*vp, "number"), 1, 10_000, 1)
        if number in seen:
            reader.problem((*vp, "number"), f"version {number} is given twice")
        seen.add(number)
        row = by_number.get(number) or PetitionVersion(number=number)
        if row not in petition.versions:
            petition.versions.append(row)
        row.title = reader.text(v, (*vp, "title"), 300, required=True)
        row.summary = reader.text(v, (*vp, "summary"), 500)
        row.text = reader.text(v, (*vp, "text"), 50000, required=True)
        row.reason = reader.text(v, (*vp, "reason"), 5000)
        row.created_by = reader.text(v, (*vp, "created_by"), 300)
        row.created_at = reader.when(v, (*vp, "created_at")) or row.created_at or utcnow()
        row.demands = [
            {
                "title": reader.text(d, (*vp, "demands", k, "title"), 300, required=True),
                "text": reader.text(d, (*vp, "demands", k, "text"), 5000),
            }
            for k, d in enumerate(reader.tables(v, (*vp, "demands")))
        ]
    for row in list(petition.versions):
        if row.number not in seen and items:
            petition.versions.remove(row)


def _history(reader: _Reader, p: Table, path: Where, petition: Petition) -> None:
    items = reader.tables(p, (*path, "status_changes"))
    if not items:
        return
    petition.status_changes = [
        PetitionStatusChange(
            from_status=reader.choice(s, (*path, "status_changes", j, "from"), STATUSES, "draft"),
            to_status=reader.choice(s, (*path, "status_changes", j, "to"), STATUSES, "open"),
            by=reader.text(s, (*path, "status_changes", j, "by"), 300, required=True),
            note=reader.text(s, (*path, "status_changes", j, "note"), 5000),
            at=reader.when(s, (*path, "status_changes", j, "at")) or utcnow(),
        )
        for j, s in enumerate(items)
    ]


def _official_counts(reader: _Reader, p: Table, path: Where, petition: Petition) -> None:
    items = reader.tables(p, (*path, "official_counts"))
    if not items:
        return
    if petition.id:
        for old in db.session.execute(
            select(OfficialCount).where(OfficialCount.petition_id == petition.id)
        ).scalars():
            db.session.delete(old)
    for j, o in enumerate(items):
        op = (*path, "official_counts", j)
        db.session.add(
            OfficialCount(
                petition=petition,
                count=reader.whole(o, (*op, "count"), 0, 100_000_000, 0),
                counted_on=reader.day(o, (*op, "counted_on"), required=True) or date.today(),
                note=reader.text(o, (*op, "note"), 5000),
                added_by=reader.text(o, (*op, "added_by"), 300, required=True),
            )
        )


RALLY_STATUSES = [s.value for s in RallyStatus]


def _day(reader: _Reader, d: Table, i: int, collective: Collective) -> None:
    path: Where = ("mobilisation_days", i)
    slug = reader.slug(d, (*path, "slug"))
    day = db.session.execute(select(MobilisationDay).where(MobilisationDay.slug == slug)).scalar()
    if day is None:
        day = MobilisationDay(collective=collective, slug=slug)
        db.session.add(day)
    day.title = reader.text(d, (*path, "title"), 200, required=True)
    day.date = reader.day(d, (*path, "date"), required=True) or date.today()
    day.presentation = reader.text(d, (*path, "presentation"), 20000)
    day.cancelled_at = reader.when(d, (*path, "cancelled_at"))
    day.cancel_reason = reader.text(d, (*path, "cancel_reason"), 5000)
    # The first demo's format: one rally per city, venue and time « à préciser ».
    cities = reader.get(d, (*path, "cities"), list, [])
    items = [{"city": c} for c in cities] + reader.tables(d, (*path, "rallies"))
    for j, r in enumerate(items):
        rp = (*path, "rallies", j - len(cities)) if j >= len(cities) else (*path, "cities")
        _rally(reader, r, rp, day)


def _rally(reader: _Reader, r: Table, path: Where, day: MobilisationDay) -> None:
    city = reader.text(r, (*path, "city"), 120, required=True) if "city" in r else ""
    insee = reader.text(r, (*path, "commune_insee"), 5)
    commune = gazetteer.commune(insee) if insee else _city(city)
    if commune is None:
        reader.problem(
            (*path, "commune_insee" if insee else "city"),
            f"« {insee or city} » is not a French commune (give commune_insee when a name "
            "is shared)",
        )
        return
    venue = reader.text(r, (*path, "venue"), 200)
    venue = "" if venue.lower() in {"à préciser", "a preciser"} else venue
    rally = next(
        (x for x in day.rallies if x.commune_insee == commune.insee and x.venue == venue), None
    )
    if rally is None:
        rally = Rally(commune_insee=commune.insee, venue=venue)
        day.rallies.append(rally)
    rally.city = city or commune.name
    rally.departement = commune.departement
    rally.latitude, rally.longitude = commune.lat, commune.lon
    rally.status = RallyStatus(reader.choice(r, (*path, "status"), RALLY_STATUSES, "published"))
    rally.status_note = reader.text(r, (*path, "status_note"), 5000)
    rally.date = reader.day(r, (*path, "date")) or day.date
    rally.start_time = reader.clock(r, (*path, "start_time"))
    rally.end_time = reader.clock(r, (*path, "end_time"))
    if rally.start_time and rally.end_time and rally.end_time <= rally.start_time:
        reader.problem((*path, "end_time"), "must come after start_time")
    for name, limit in [
        ("address", 300),
        ("description", 5000),
        ("directions", 5000),
        ("accessibility", 5000),
        ("contact_name", 200),
        ("contact_email", 254),
    ]:
        setattr(rally, name, reader.text(r, (*path, name), limit))
    capacity = reader.get(r, (*path, "capacity"), int, None)
    if capacity is not None and not 1 <= capacity <= 1_000_000:
        reader.problem((*path, "capacity"), "must be between 1 and 1000000")
    rally.capacity = capacity
    names = reader.get(r, (*path, "organisations"), list, [])
    rally.organisations = [o for o in (_member(reader, n, path) for n in names) if o]


def _city(name: str) -> gazetteer.Commune | None:
    matches = [c for c in gazetteer.find(name) if gazetteer.fold(c.name) == gazetteer.fold(name)]
    return matches[0] if matches else None


def _member(reader: _Reader, name: Any, path: Where) -> Organisation | None:
    found = (
        db.session.execute(select(Organisation).where(Organisation.name == name)).scalar()
        if isinstance(name, str)
        else None
    )
    if found is None:
        reader.problem(
            (*path, "organisations"),
            f"{name!r} is not a member organisation of this site (load or approve it first)",
        )
    return found


# --- writing ---------------------------------------------------------------------------------


def _local(value: datetime | None) -> datetime | None:
    """Paris time without an offset, as people write it (and as loading reads it)."""
    return value.astimezone(PARIS).replace(tzinfo=None, microsecond=0) if value else None


def _drop_empty(table: Table) -> Table:
    return {k: v for k, v in table.items() if v not in (None, "", [])}


def dump_text(collective: Collective) -> str:
    """The whole content, in the order loading reads it: dump → load → dump is stable."""
    numbers = {d.id: d.position for d in collective.demands}
    petitions = db.session.execute(
        select(Petition).where(Petition.collective_id == collective.id).order_by(Petition.id)
    ).scalars()
    days = db.session.execute(
        select(MobilisationDay)
        .where(MobilisationDay.collective_id == collective.id)
        .order_by(MobilisationDay.date, MobilisationDay.id)
    ).scalars()
    data = {
        "collective": _drop_empty(
            {
                "slug": collective.slug,
                "name": collective.name,
                "short_name": collective.short_name,
                "tagline": collective.tagline,
                "presentation": collective.presentation,
                "coordinator": collective.coordinator,
                "website": collective.website,
                "contact_email": collective.contact_email,
                "source": collective.source,
                "brand_colour": collective.brand_colour,
                "social_links": list(collective.social_links or []),
            }
        ),
        "demands": [{"title": d.title, "text": d.text} for d in collective.demands],
        "key_figures": [
            _drop_empty(
                {"value": f.value, "label": f.label, "source": f.source, "source_url": f.source_url}
            )
            for f in collective.key_figures
        ],
        "petitions": [_petition_table(p, numbers) for p in petitions],
        "mobilisation_days": [_day_table(d) for d in days],
    }
    header = (
        f"# Content of « {collective.name} », written by `flask content dump`.\n"
        "# Load it with `flask content load FILE`; the format: docs/content-format.md.\n\n"
    )
    return header + tomli_w.dumps(_drop_empty(data), multiline_strings=True)


def _petition_table(p: Petition, numbers: dict[int, int]) -> Table:
    counts = db.session.execute(
        select(OfficialCount)
        .where(OfficialCount.petition_id == p.id)
        .order_by(OfficialCount.counted_on, OfficialCount.id)
    ).scalars()
    return _drop_empty(
        {
            "slug": p.slug,
            "title": p.title,
            "addressee": p.addressee,
            "summary": p.summary,
            "text": p.text,
            "call_to_action": p.call_to_action,
            "target": p.target,
            "status": p.status.value,
            "opens_at": _local(p.opens_at),
            "closes_at": _local(p.closes_at),
            "demands": [numbers[d.id] for d in p.demands],
            "official_url": p.official_url,
            "handed_over_on": p.handed_over_on,
            "handover_note": p.handover_note,
            "version": p.version,
            "versions": [
                _drop_empty(
                    {
                        "number": v.number,
                        "title": v.title,
                        "summary": v.summary,
                        "text": v.text,
                        "reason": v.reason,
                        "created_by": v.created_by,
                        "created_at": _local(v.created_at),
                        "demands": [_drop_empty(dict(d)) for d in v.demands],
                    }
                )
                for v in p.versions
            ],
            "status_changes": [
                _drop_empty(
                    {
                        "from": s.from_status,
                        "to": s.to_status,
                        "by": s.by,
                        "note": s.note,
                        "at": _local(s.at),
                    }
                )
                for s in p.status_changes
            ],
            "official_counts": [
                _drop_empty(
                    {
                        "count": o.count,
                        "counted_on": o.counted_on,
                        "note": o.note,
                        "added_by": o.added_by,
                    }
                )
                for o in counts
            ],
        }
    )


def _day_table(d: MobilisationDay) -> Table:
    rallies = sorted(d.rallies, key=lambda r: (r.city, r.commune_insee, r.venue, r.id or 0))
    return _drop_empty(
        {
            "slug": d.slug,
            "title": d.title,
            "date": d.date,
            "presentation": d.presentation,
            "cancelled_at": _local(d.cancelled_at),
            "cancel_reason": d.cancel_reason,
            "rallies": [
                _drop_empty(
                    {
                        "city": r.city,
                        "commune_insee": r.commune_insee,
                        "status": r.status.value,
                        "status_note": r.status_note,
                        "venue": r.venue,
                        "address": r.address,
                        "date": r.date if r.date != d.date else None,
                        "start_time": r.start_time,
                        "end_time": r.end_time,
                        "description": r.description,
                        "directions": r.directions,
                        "accessibility": r.accessibility,
                        "contact_name": r.contact_name,
                        "contact_email": r.contact_email,
                        "capacity": r.capacity,
                        "organisations": [o.name for o in r.organisations],
                    }
                )
                for r in rallies
            ],
        }
    )
