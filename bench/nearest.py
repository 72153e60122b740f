"""Nearest-rally search with 10 000 rallies: the finder, its page, and a bare SELECT beside them.

Run by hand, not in CI (see bench/README.md):

    .venv/bin/python bench/nearest.py             # a temporary SQLite file, about a minute
    .venv/bin/python bench/nearest.py --database-url postgresql://postgres@127.0.0.1:5432/lead_bench
    .venv/bin/python bench/nearest.py --help

The issue asks: « nearest-rally search answers in under 5 ms (p50, server side) with
10 000 rallies in the database ». The script builds a migrated database, inserts 10 000
published rallies in real French communes (a fixed random sample of the gazetteer, dates
past and upcoming), then times, for the same random French communes, in one process:

    service  finder.nearest(place, today)          what the page calls to find the rallies
    page     GET /rassemblements?commune=<insee>    the whole page, through Flask's test client
    bare     GET /bare/<id> on a bare Flask app     one SELECT by primary key (raw driver),
                                                    through the test client too: the floor

Interleaved (service, page, bare for each commune), so a drift of the machine weighs on
all three alike. No HTTP server and no network: what is timed is the server side.
It prints p50 and p95 in ms, each p50 over the bare p50, and PASS or FAIL of the service
p50 against 5 ms. The finder's answers are checked against a brute-force search first.

Exit status: 0 when the run is valid, whatever the figures (it is a report); 1 when the
finder disagreed with the brute force or the page did not answer 200; 2 when it could not
be set up. The database is left for inspection; a PostgreSQL database is dropped and
recreated at the start, so its name must contain « bench ».
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from common import SetupError, ensure_venv  # bench/ is on sys.path: scripts run from it

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
TARGET_MS = 5.0
DEFAULT_POSTGRES_HINT = "postgresql://postgres@127.0.0.1:5432/lead_bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(
            "Time the nearest-rally search (service and page) with 10 000 rallies against "
            "a bare Flask app doing one SELECT by primary key, and check the service p50 "
            f"against {TARGET_MS:g} ms."
        ),
        epilog=f"PostgreSQL: --database-url {DEFAULT_POSTGRES_HINT}. See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--database-url",
        help="SQLite or PostgreSQL URL; its database is emptied (default: a temporary SQLite file)",
    )
    p.add_argument("--rallies", type=int, default=10_000, help="published rallies inserted")
    p.add_argument("--queries", type=int, default=1000, help="communes searched from")
    p.add_argument(
        "--page-queries", type=int, help="of which also timed as a page (default: all of them)"
    )
    p.add_argument("--warmup", type=int, default=50, help="untimed searches first")
    p.add_argument("--check", type=int, default=100, help="searches checked by brute force")
    p.add_argument("--seed", type=int, default=20261123)
    return p.parse_args(argv)


def clean_environment(workdir: Path) -> None:
    """The app reads settings from the environment when campaign is imported and when the
    app is built: keep the developer's shell out of what is measured (as run.py does)."""
    sys.path.insert(0, str(BENCH_DIR))
    from run import APP_ENV_PREFIXES, APP_ENV_VARS

    for name in list(os.environ):
        if name in APP_ENV_VARS or name.startswith(APP_ENV_PREFIXES):
            del os.environ[name]
    os.environ["INSTANCE_PATH"] = str(workdir / "instance")
    os.environ["QUEUE_DB_PATH"] = str(workdir / "queue.sqlite3")


# --------------------------------------------------------------------------- database


def fresh_database(url: str | None, workdir: Path) -> str:
    """An empty database for the run: a temporary SQLite file, or the one named."""
    if not url:
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    from sqlalchemy.engine import make_url

    from campaign.config import normalise_database_url

    url = normalise_database_url(url)
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in Path(name).name:
        raise SetupError(f"refusing to empty database {name!r}: its name must contain 'bench'")
    if parsed.get_backend_name() == "sqlite":
        Path(name).unlink(missing_ok=True)
        return url
    if parsed.get_backend_name() != "postgresql":
        raise SetupError(f"SQLite or PostgreSQL only, not {parsed.get_backend_name()}")
    import psycopg
    from psycopg import sql

    admin = parsed.set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    except psycopg.Error as exc:
        raise SetupError(f"PostgreSQL at {admin.render_as_string()}: {exc}") from exc
    return url


def build_app(database_url: str) -> Any:
    """The real app, as in production but for the mail (never sent) and the rate limits."""
    from flask_migrate import upgrade

    from campaign import create_app

    app = create_app(
        {
            "CAMPAIGN_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PUBLIC_URL": "http://127.0.0.1:8101",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_SUPPRESS_SEND": False,  # production refuses True; nothing is sent here
            "RATELIMIT_ENABLED": False,
        }
    )
    logging.disable(logging.INFO)  # Alembic's « Running upgrade … » lines
    try:
        with app.app_context():
            upgrade()
    finally:
        logging.disable(logging.NOTSET)
    return app


def insert_rallies(app: Any, n: int, rng: random.Random) -> tuple[list[int], int]:
    """n published rallies in communes drawn from the gazetteer, on 12 days (half of them
    past), a third of them with a venue position a little off the commune's centre; each
    with one or two of 40 member organisations. Bulk inserts: a few seconds."""
    from sqlalchemy import func, insert, select, text

    from campaign.extensions import db
    from campaign.organisations.models import (
        Organisation,
        OrganisationKind,
        OrganisationStatus,
    )
    from campaign.places import gazetteer
    from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, rally_organisations
    from campaign.rallies.models import today as paris_today
    from tests.factories import make_collective

    today = paris_today()
    now = datetime.now(UTC)
    communes = [c for c in gazetteer.gazetteer().by_insee.values() if not c.parent]
    with app.app_context():
        collective = make_collective("Collectif du banc d’essai")
        days = []
        for offset in (-120, -90, -60, -30, -14, -7, 7, 14, 30, 60, 90, 120):
            when = today + timedelta(days=offset)
            day = MobilisationDay(
                collective=collective, slug=f"journee-{offset + 200}", title=f"Journée {when}"
            )
            day.date = when  # a column named like the type: set apart for the type checker
            db.session.add(day)
            days.append(day)
        organisations = [
            Organisation(
                collective=collective,
                name=f"Organisation {i}",
                name_key=f"organisation {i}",
                kind=OrganisationKind.ASSOCIATION,
                departement="75",
                contact_name="Camille Martin",
                contact_email=f"orga{i}@example.org",
                listed=True,
                shares_demands_at=now,
                status=OrganisationStatus.APPROVED,
                referral_code=f"bench{i}",
                token_nonce=f"{i:032x}",
            )
            for i in range(40)
        ]
        db.session.add_all(organisations)
        db.session.flush()
        rows = []
        for i, commune in enumerate(rng.choices(communes, k=n)):
            day = days[i % len(days)]
            lat, lon = commune.lat, commune.lon
            if i % 3 == 0:  # an exact venue, up to ~1 km from the centre
                lat, lon = lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01)
            rows.append(
                {
                    "day_id": day.id,
                    "status": RallyStatus.PUBLISHED,
                    "city": commune.name,
                    "commune_insee": commune.insee,
                    "departement": commune.departement,
                    "venue": "Place de la Mairie",
                    "address": f"Place de la Mairie, {commune.postcodes[0]} {commune.name}",
                    "latitude": lat,
                    "longitude": lon,
                    "date": day.date,
                    "start_time": clock(14, 30),
                    "end_time": clock(17, 0),
                    "description": "Rassemblement pour les quatre urgences.",
                    "directions": "",
                    "accessibility": "",
                    "contact_name": "",
                    "contact_email": "",
                    "decided_by": "",
                    "status_note": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        db.session.execute(insert(Rally), rows)
        ids = db.session.execute(select(Rally.id)).scalars().all()
        links = {
            (rally_id, organisations[j].id)
            for rally_id in ids
            for j in rng.sample(range(len(organisations)), rng.choice((1, 1, 2)))
        }
        db.session.execute(
            insert(rally_organisations),
            [{"rally_id": r, "organisation_id": o} for r, o in sorted(links)],
        )
        db.session.commit()
        upcoming = db.session.execute(
            select(func.count()).select_from(Rally).where(Rally.date >= today)
        ).scalar_one()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.session.remove()
    return list(ids), upcoming


# --------------------------------------------------------------------------- the bare app


def bare_app(database_url: str) -> Any:
    """Flask and one SELECT by primary key through the raw driver, one connection kept
    open: the least a Flask app can do with this database."""
    from flask import Flask, Response, abort
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    query = "SELECT id, city, latitude, longitude FROM rallies WHERE id = {}"
    if url.get_backend_name() == "sqlite":
        conn: Any = sqlite3.connect(url.database or "", check_same_thread=False)
        query = query.format("?")
    else:
        import psycopg

        conn = psycopg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        )
        query = query.format("%s")

    app = Flask("bare")

    @app.get("/bare/<int:rally_id>")
    def bare(rally_id: int) -> Response:
        row = conn.execute(query, (rally_id,)).fetchone()
        if row is None:
            abort(404)
        return Response(f"{row[1]} {row[2]} {row[3]}", mimetype="text/plain")

    return app


# --------------------------------------------------------------------------- measuring


def check_against_brute_force(app: Any, communes: list[Any], today: date) -> list[str]:
    """The finder's answers (ids and distances) against every rally sorted by distance."""
    from sqlalchemy import select

    from campaign.extensions import db
    from campaign.places.gazetteer import distance_km
    from campaign.rallies import finder
    from campaign.rallies.models import Rally

    problems = []
    with app.app_context():
        everything = db.session.execute(
            select(Rally.id, Rally.latitude, Rally.longitude, Rally.date)
        ).all()
        for commune in communes:
            place = finder.commune_place(commune)
            results = finder.nearest(place, today)
            for hits, upcoming in ((results.upcoming, True), (results.past, False)):
                expected = sorted(
                    distance_km(place.lat, place.lon, lat, lon)
                    for _, lat, lon, when in everything
                    if (when >= today) == upcoming
                )[: 10 if upcoming else 5]
                found = [hit.km for hit in hits]
                if len(found) != len(expected) or any(
                    abs(a - b) > 1e-6 for a, b in zip(found, expected, strict=True)
                ):
                    problems.append(
                        f"{commune.label}: found {found[:3]}…, expected {expected[:3]}…"
                    )
            db.session.remove()
    return problems


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


class Timer:
    """Wall-clock milliseconds of each timed block, and this thread's CPU milliseconds (which
    a busy machine inflates less; it leaves out the PostgreSQL server's own work)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> Timer:
        self._cpu = time.thread_time_ns()
        self._wall = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append((time.perf_counter_ns() - self._wall) / 1e6)
        self.cpu.append((time.thread_time_ns() - self._cpu) / 1e6)


def measure(
    app: Any, bare: Any, communes: list[Any], page_every: int, rally_ids: list[int]
) -> tuple[dict[str, Timer], list[str], dict[str, float]]:
    from campaign.extensions import db
    from campaign.rallies import finder
    from campaign.rallies.models import today

    client = app.test_client()
    bare_client = bare.test_client()
    timers = {"service": Timer(), "page": Timer(), "bare": Timer()}
    problems: list[str] = []
    near = hits = 0
    page_bytes = 0
    for i, commune in enumerate(communes):
        with app.app_context():
            with timers["service"]:
                results = finder.nearest(finder.commune_place(commune), today())
            near += results.near
            hits += len(results.upcoming) + len(results.past)
            db.session.remove()  # as at the end of a request: nothing cached between searches
        if i % page_every == 0:
            with timers["page"]:
                response = client.get(f"/rassemblements?commune={commune.insee}")
                body = response.get_data()
            page_bytes += len(body)
            if response.status_code != 200:
                problems.append(f"page for {commune.insee}: {response.status}")
        rally_id = rally_ids[i % len(rally_ids)]
        with timers["bare"]:
            response = bare_client.get(f"/bare/{rally_id}")
            response.get_data()
        if response.status_code != 200:
            problems.append(f"bare for {rally_id}: {response.status}")
    stats = {
        "near": near / len(communes),
        "hits": hits / len(communes),
        "page_kb": page_bytes / max(len(timers["page"].wall), 1) / 1024,
    }
    return timers, problems, stats


def report(timers: dict[str, Timer], stats: dict[str, float], setup: dict[str, Any]) -> None:
    bare_p50 = statistics.median(timers["bare"].wall)
    labels = {
        "service": "service  finder.nearest(place, today)",
        "page": "page     GET /rassemblements?commune=<insee>",
        "bare": "bare     GET /bare/<id>: one SELECT by key",
    }
    print()
    for key, value in setup.items():
        print(f"  {key:<10} {value}")
    print()
    print(f"  {'target':<46} {'n':>5} {'p50 ms':>7} {'p95 ms':>7} {'÷ bare':>7} {'CPU p50':>8}")
    for key, label in labels.items():
        timer = timers[key]
        p50, p95 = statistics.median(timer.wall), percentile(timer.wall, 95)
        cpu = statistics.median(timer.cpu)
        print(
            f"  {label:<46} {len(timer.wall):>5} {p50:>7.2f} {p95:>7.2f} "
            f"{p50 / bare_p50:>6.1f}× {cpu:>8.2f}"
        )
    print()
    print(
        f"  per search: {stats['hits']:.1f} rallies listed (10 upcoming + 5 past at most), "
        f"an upcoming one within 100 km for {stats['near']:.0%}; page {stats['page_kb']:.0f} kB"
    )
    service_p50 = statistics.median(timers["service"].wall)
    verdict = "PASS" if service_p50 < TARGET_MS else "FAIL"
    print(f"  service p50 {service_p50:.2f} ms   target < {TARGET_MS:g} ms   {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ensure_venv(__file__)
        return bench(args)
    except SetupError as exc:
        print(f"\nbench/nearest.py: cannot run the benchmark:\n{exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-nearest-"))
    clean_environment(workdir)
    sys.path.insert(0, str(ROOT))  # tests.factories

    database_url = fresh_database(args.database_url, workdir)
    from sqlalchemy.exc import OperationalError

    from campaign.extensions import db
    from campaign.places import gazetteer
    from campaign.rallies.models import today

    load_before = os.getloadavg()[0]
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: the machine is already busy (load average {load_before:.2f}); "
            "the figures will be noisier",
            file=sys.stderr,
        )
    started = time.perf_counter()
    try:
        app = build_app(database_url)
    except OperationalError as exc:
        raise SetupError(f"cannot reach the database: {exc.orig}") from exc
    migrated = time.perf_counter()
    rng = random.Random(args.seed)
    rally_ids, upcoming = insert_rallies(app, args.rallies, rng)
    total = len(rally_ids)
    inserted = time.perf_counter()
    with app.app_context():
        dialect = db.engine.dialect
        version = ".".join(map(str, dialect.server_version_info or ()))
    bare = bare_app(database_url)

    # Where people search from: communes drawn uniformly, as the rallies are.
    places = [c for c in gazetteer.gazetteer().by_insee.values() if not c.parent]
    searched = rng.choices(places, k=args.queries + args.warmup)
    warmup, measured = searched[: args.warmup], searched[args.warmup :]
    page_every = max(1, args.queries // (args.page_queries or args.queries))

    problems = check_against_brute_force(app, measured[: args.check], today())
    measure(app, bare, warmup, 1, rally_ids)
    timers, http_problems, stats = measure(app, bare, measured, page_every, rally_ids)
    problems += http_problems
    finished = time.perf_counter()

    safe_url = database_url
    if "@" in safe_url:
        from sqlalchemy.engine import make_url

        safe_url = make_url(safe_url).render_as_string(hide_password=True)
    report(
        timers,
        stats,
        {
            "database": f"{dialect.name} {version}  {safe_url}",
            "rallies": f"{total} published ({upcoming} upcoming, {total - upcoming} past)",
            "searches": f"{len(measured)} communes (+{len(warmup)} warm-up), seed {args.seed}; "
            f"{min(args.check, len(measured))} checked by brute force",
            "setup": f"migrate {migrated - started:.1f} s, insert {inserted - migrated:.1f} s, "
            f"measure {finished - inserted:.1f} s",
            "machine": f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {platform.platform(terse=True)}",
            "load": f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        },
    )
    if problems:
        print()
        print("!" * 78)
        print("!! THIS RUN IS NOT VALID:")
        for problem in problems[:20]:
            print(f"!!   {problem}")
        print("!" * 78)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
