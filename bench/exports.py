"""A million signatories exported: the streamed CSV and XLSX against a bare csv.writer.

Run by hand, not in CI (see bench/README.md):

    .venv/bin/python bench/exports.py           # PostgreSQL console_bench, about 3 minutes
    .venv/bin/python bench/exports.py --sqlite  # a temporary SQLite file
    .venv/bin/python bench/exports.py --help    # options (rows, rounds, database…)

The issue asks: « the full list of confirmed signatories (…) streamed so that 1 000 000
rows export in ≤ 15 s with peak memory under 150 MB ». The script builds a migrated
database, inserts 1 000 000 confirmed signatures of one petition (and 5 % more pending
ones) with COPY on PostgreSQL or batched executemany on SQLite, then, each in a fresh
process so that the peaks of memory do not mix:

    csv        GET /console/exports/<slug>/signataires.csv through Flask's test client,
               signed in as an admin, the body read chunk by chunk and counted
    xlsx       the same for signataires.xlsx, the body written to a file (checked after)
    bare       the app's SELECT, word for word, through the raw driver (psycopg server-side
               cursor, sqlite3), every row to a plain csv.writer on /dev/null: the floor

and, for comparison, xlsxwriter (constant_memory) and openpyxl (write_only) writing the
first --library-rows rows of the same query, their time scaled to the whole.

It prints wall time, rows per second, time over the bare run, the process's CPU time,
its resident memory before the export (the app loaded, one request served) and at its
peak (VmHWM), the growth between the two, and PASS or FAIL of each format against 15 s
(the slowest run) and 150 MB (the peak of the whole process, the app included).

Exit status: 0 when the run is valid, whatever the figures; 1 when an export did not
answer 200 with every row (the CSV's lines, the XLSX's rows, X-Rows); 2 when it could not
be set up. The database is dropped at the end (--keep to keep it); its name must contain
« bench ».
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import SetupError, ensure_venv  # bench/ is on sys.path: scripts run from it

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/console_bench"
TARGET_S = 15.0
TARGET_MB = 150.0
SLUG = "petition-du-banc"

_FIRST = (
    "Camille Léa Jeanne Louise Chloé Inès Manon Zoé Lina Rose Anaïs Élodie Maëlle Nour "
    "Hugo Lucas Théo Nathan Louis Gabriel Raphaël Jules Adam Noé Élias Sacha Mathéo Yanis "
    "Karim Amadou Sofiane Jean-Pierre Marie-Thérèse Anne-Sophie François Hélène Loïc Gaëlle"
)
FIRST = _FIRST.split()
_LAST = (
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefebvre "
    "Mercier Dupont Lambert Bonnet François Martinez N'Diaye Benali Nguyen Le-Gall "
    "Da-Silva Besançon Kerbrat d'Arcy Ménard Lopez"
)
LAST = [
    name.replace("-", " ") if name in ("Le-Gall", "Da-Silva") else name for name in _LAST.split()
]
PLACES = [
    ("75011", "75"), ("75018", "75"), ("69002", "69"), ("69007", "69"), ("13001", "13"),
    ("13008", "13"), ("31000", "31"), ("33000", "33"), ("44000", "44"), ("59000", "59"),
    ("67000", "67"), ("34000", "34"), ("35000", "35"), ("06000", "06"), ("38000", "38"),
    ("20000", "2A"), ("20200", "2B"), ("97110", "971"), ("97400", "974"), ("29200", "29"),
    ("87000", "87"), ("63000", "63"), ("21000", "21"), ("57000", "57"), ("76000", "76"),
]  # fmt: skip
SOURCES = ["qr-flyer-lyon", "qr-affiche-paris", "newsletter", "facebook", "presse", "mastodon"]
_COLUMNS = (
    "petition_id first_name last_name email email_canonical country postcode departement "
    "consent_version optin_collective source organisation_id token_nonce token_hash "
    "token_expires_at created_at confirmed_at emails_sent"
)
COLUMNS = _COLUMNS.split()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(
            "Time the streamed export of the confirmed signatories (CSV and XLSX) against a "
            f"bare csv.writer over the same cursor; targets ≤ {TARGET_S:g} s and "
            f"< {TARGET_MB:g} MB for {1_000_000:,} rows."
        ),
        epilog="See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url",
        default=DEFAULT_URL,
        help="PostgreSQL or SQLite URL; dropped and recreated, its name must contain 'bench'",
    )
    where.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead")
    p.add_argument("--rows", type=int, default=1_000_000, help="confirmed signatures")
    p.add_argument("--rounds", type=int, default=2, help="runs of each export")
    p.add_argument(
        "--library-rows",
        type=int,
        default=100_000,
        help="rows written by xlsxwriter and openpyxl for comparison (0: skip)",
    )
    p.add_argument("--keep", action="store_true", help="keep the database at the end")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--json", type=Path, help="also write the results there")
    # Internal: one measurement in a fresh process.
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--admin", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _proc_status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def rss_mb() -> float:
    """The resident memory of this process now (VmRSS), in MB."""
    return _proc_status("VmRSS")


def peak_mb() -> float:
    """The peak resident memory of this process (VmHWM), in MB. Not ru_maxrss: Linux
    carries it over from the parent through fork and exec."""
    return _proc_status("VmHWM")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- the data


def make_app(database_url: str) -> Any:
    """The real app as in production (no migration: the parent did it)."""
    from campaign import create_app

    return create_app(
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


def insert_content(app: Any) -> tuple[int, int, list[int]]:
    """The petition, 40 member organisations (one with an « & » in its name, as real
    ones have) and an admin account. Returns (petition id, admin id, organisation ids)."""
    from campaign.console import auth
    from campaign.console.models import Role
    from campaign.extensions import db
    from campaign.organisations.models import Organisation, OrganisationKind, OrganisationStatus
    from tests.factories import make_collective, make_petition

    now = datetime.now(UTC)
    with app.app_context():
        collective = make_collective("Collectif du banc d’essai")
        petition = make_petition(collective, slug=SLUG)
        organisations = [
            Organisation(
                collective=collective,
                name="Parents & Enfants d’abord" if i == 7 else f"Organisation membre {i}",
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
        admin, _ = auth.invite("admin@example.org", "Admin du banc", Role.ADMIN)
        admin.invite_nonce = None
        db.session.commit()
        result = petition.id, admin.id, [o.id for o in organisations]
        db.session.remove()
    return result


def signature_rows(
    petition_id: int, n: int, organisation_ids: list[int], rng: random.Random
) -> Any:
    """n confirmed signatures and n/19 pending (one in twenty), in order of creation (the
    id order), over 90 days; each confirmed a minute to a few hours after signing, so the
    order of confirmation is not the order of ids."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=92)
    extra = n // 19  # one pending in every twenty
    total = n + extra
    step = 90 * 86400 / total
    confirmed = 0
    for i in range(total):
        created = start + timedelta(seconds=i * step)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower().replace(' ', '')}.{i}@example.org"
        abroad = rng.random() < 0.03
        postcode, dep = (None, None) if abroad else rng.choice(PLACES)
        pending = (i % 20 == 19 and i - confirmed < extra) or confirmed >= n
        if not pending:
            confirmed += 1
        yield (
            petition_id,
            first,
            last,
            email,
            email,
            "BE" if abroad else "FR",
            postcode,
            dep,
            "2026-09",
            rng.random() < 0.4,
            rng.choice(SOURCES) if rng.random() < 0.4 else None,
            rng.choice(organisation_ids) if rng.random() < 0.3 else None,
            f"{i:032x}",
            f"{i:064x}",
            created + timedelta(days=30),
            created,
            None if pending else created + timedelta(seconds=60 + rng.expovariate(1 / 3600)),
            1,
        )
    assert confirmed == n, (confirmed, n)


def insert_signatures(
    database_url: str, petition_id: int, n: int, organisation_ids: list[int], seed: int
) -> None:
    from sqlalchemy.engine import make_url

    rng = random.Random(seed)
    rows = signature_rows(petition_id, n, organisation_ids, rng)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        import sqlite3

        def value(v: Any) -> Any:
            if isinstance(v, datetime):  # as SQLAlchemy stores it: naive UTC
                return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            return v

        conn = sqlite3.connect(url.database or "")
        sql = (
            f"INSERT INTO signatures ({', '.join(COLUMNS)}) "  # noqa: S608 (constants)
            f"VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(value(v) for v in row))
            if len(batch) == 50_000:
                conn.executemany(sql, batch)
                batch.clear()
        conn.executemany(sql, batch)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        return

    import psycopg

    def text(v: Any) -> str:
        if v is None:
            return "\\N"
        if isinstance(v, bool):
            return "t" if v else "f"
        if isinstance(v, datetime):
            return v.isoformat()
        return str(v)  # the generated values hold no tab, newline or backslash

    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY signatures ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            lines: list[str] = []
            for row in rows:
                lines.append("\t".join(map(text, row)))
                if len(lines) == 20_000:
                    copy.write("\n".join(lines) + "\n")
                    lines.clear()
            if lines:
                copy.write("\n".join(lines) + "\n")
        conn.commit()
    # As autovacuum would have done on a real database: hint bits, visibility, statistics.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE signatures")


def drop_database(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(url.database or "")
            )
        )


# --------------------------------------------------------------------------- children


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this fresh process; returns what the parent prints."""
    from sqlalchemy.engine import make_url

    url = make_url(args.database_url)
    if args.child == "bare":
        return child_bare(args.database_url, url.get_backend_name())
    app = make_app(args.database_url)
    if args.child in ("xlsxwriter", "openpyxl"):
        return child_library(app, args.child, args.library_rows, args.out)
    return child_export(app, args.child, args.admin, args.out)


def child_bare(database_url: str, backend: str) -> dict[str, Any]:
    """The floor: the app's SELECT, word for word, through the raw driver (a server-side
    cursor on PostgreSQL), every row to a plain csv.writer on /dev/null."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from campaign.console.exports import signatories_query
    from campaign.core.db import utcnow

    url = make_url(database_url)
    dialect = create_engine(url).dialect
    if backend == "sqlite":
        import sqlite3

        conn: Any = sqlite3.connect(url.database or "")
    else:
        import psycopg

        conn = psycopg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
    petition_id = conn.execute(f"SELECT id FROM petitions WHERE slug = '{SLUG}'").fetchone()[0]  # noqa: S608
    query = signatories_query(int(petition_id), utcnow(), backend)
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    before, cpu0 = rss_mb(), cpu_s()
    started = time.perf_counter()
    if backend == "sqlite":
        cursor = conn.execute(sql)
    else:
        cursor = conn.cursor(name="bare")  # server-side, as the app's yield_per
        cursor.itersize = 1000
        cursor.execute(sql)
    with open(os.devnull, "w", newline="") as out:
        csv.writer(out, delimiter=";").writerows(cursor)
    wall = time.perf_counter() - started
    cpu = cpu_s() - cpu0
    if backend != "sqlite":
        cursor.close()
        conn.commit()
    rows = conn.execute(f"SELECT count(*) FROM ({sql}) AS q").fetchone()[0]  # noqa: S608
    conn.close()
    return {"rows": rows, "wall": wall, "cpu": cpu, "rss_before": before, "peak": peak_mb(),
            "bytes": 0}  # fmt: skip


def child_export(app: Any, fmt: str, admin_id: int, out: Path | None) -> dict[str, Any]:
    """GET /console/exports/<slug>/signataires.<fmt> as a signed-in admin, read by chunks."""
    from campaign.console.models import Organiser
    from campaign.extensions import db

    client = app.test_client()
    with app.app_context():
        epoch = db.session.get(Organiser, admin_id).session_epoch
        db.session.remove()
    with client.session_transaction() as session:  # what signing in leaves in the session
        session.update({"organiser": admin_id, "epoch": epoch, "seen": time.time()})
    warm = client.get("/console/exports")  # first request of the process: not measured
    assert warm.status_code == 200, warm.status
    before, cpu0 = rss_mb(), cpu_s()
    started = time.perf_counter()
    response = client.get(f"/console/exports/{SLUG}/signataires.{fmt}", buffered=False)
    size = lines = chunks = 0
    target = open(out, "wb") if out else None  # noqa: SIM115
    try:
        for chunk in response.response:
            size += len(chunk)
            chunks += 1
            if target:
                target.write(chunk)
            else:
                lines += chunk.count(b"\n")
    finally:
        response.close()
        if target:
            target.close()
    wall = time.perf_counter() - started
    return {
        "status": response.status_code,
        "x_rows": int(response.headers.get("X-Rows", -1)),
        "rows": lines - 1 if fmt == "csv" else None,  # the header
        "bytes": size,
        "chunks": chunks,
        "wall": wall,
        "cpu": cpu_s() - cpu0,
        "rss_before": before,
        "peak": peak_mb(),
    }


def child_library(app: Any, library: str, n: int, out: Path | None) -> dict[str, Any]:
    """The first n rows of the same query written by xlsxwriter or openpyxl."""
    from itertools import chain, islice

    from campaign.console.exports import SIGNATORY_HEADER, signatory_batches
    from campaign.core.db import utcnow
    from campaign.core.export import safe_cell
    from campaign.extensions import db
    from campaign.petition.models import Petition

    assert out is not None
    with app.app_context():
        petition_id = db.session.query(Petition.id).filter_by(slug=SLUG).scalar()
        before, cpu0 = rss_mb(), cpu_s()
        started = time.perf_counter()
        rows = islice(chain.from_iterable(signatory_batches(petition_id, utcnow())), n)
        count = 0
        if library == "xlsxwriter":
            import xlsxwriter

            book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
            sheet = book.add_worksheet("Signataires")
            for col, title in enumerate(SIGNATORY_HEADER):
                sheet.write_string(0, col, title)
            for r, row in enumerate(rows, start=1):
                for col, value in enumerate(row):
                    sheet.write_string(r, col, safe_cell(value))
                count += 1
            book.close()
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("Signataires")
            sheet.append(SIGNATORY_HEADER)
            for row in rows:
                sheet.append([safe_cell(v) for v in row])
                count += 1
            book.save(out)
        wall = time.perf_counter() - started
        db.session.remove()
    return {"rows": count, "wall": wall, "cpu": cpu_s() - cpu0, "rss_before": before,
            "peak": peak_mb(), "bytes": out.stat().st_size}  # fmt: skip


def run_child(args: argparse.Namespace, target: str, database_url: str, admin_id: int,
              out: Path | None) -> dict[str, Any]:  # fmt: skip
    command = [
        sys.executable, __file__, "--child", target, "--database-url", database_url,
        "--admin", str(admin_id), "--library-rows", str(args.library_rows),
    ]  # fmt: skip
    if out:
        command += ["--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SetupError(f"the {target} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def xlsx_rows(path: Path) -> tuple[int, list[list[str]]]:
    """Rows of the streamed workbook's sheet (counted in the XML, decompressed by chunks),
    and its first three rows as openpyxl reads them."""
    from openpyxl import load_workbook

    with zipfile.ZipFile(path) as book:
        bad = book.testzip()
        if bad:
            raise ValueError(f"corrupt member {bad}")
        rows, tail = 0, b""
        with book.open("xl/worksheets/sheet1.xml") as sheet:
            while chunk := sheet.read(1 << 20):
                data = tail + chunk
                rows += data.count(b"<row ")
                tail = data[-4:]
                rows -= tail.count(b"<row ")  # counted again with the next chunk
        rows += tail.count(b"<row ")
    book = load_workbook(path, read_only=True)
    first = [
        [str(v) for v in row] for row in book.worksheets[0].iter_rows(max_row=3, values_only=True)
    ]
    book.close()
    return rows - 1, first


# --------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ensure_venv(__file__)
        sys.path.insert(0, str(ROOT))  # tests.factories
        if args.child:
            print(json.dumps(child(args)))
            return 0
        return bench(args)
    except SetupError as exc:
        print(f"\nbench/exports.py: cannot run the benchmark:\n{exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    import nearest
    import run

    workdir = Path(tempfile.mkdtemp(prefix="bench-exports-"))
    nearest.clean_environment(workdir)  # the children inherit this environment
    url = f"sqlite:///{workdir / 'exports_bench.sqlite3'}" if args.sqlite else args.database_url
    try:
        database_url = nearest.fresh_database(url, workdir)
    except nearest.SetupError as exc:
        raise SetupError(str(exc)) from exc
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from campaign.extensions import db

    load_before = os.getloadavg()[0]
    problems: list[str] = []
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        started = time.perf_counter()
        try:
            app = nearest.build_app(database_url)
        except OperationalError as exc:
            raise SetupError(f"cannot reach the database: {exc.orig}") from exc
        petition_id, admin_id, organisation_ids = insert_content(app)
        with app.app_context():
            dialect = db.engine.dialect
            version = ".".join(map(str, dialect.server_version_info or ()))
            db.engine.dispose()
        migrated = time.perf_counter()
        print(f"inserting {args.rows:,} confirmed signatures (+5 % pending)…", flush=True)
        insert_signatures(database_url, petition_id, args.rows, organisation_ids, args.seed)
        inserted = time.perf_counter()
        print(f"  {inserted - migrated:.1f} s", flush=True)

        order = ["bare", "csv", "xlsx"]
        for round_ in range(args.rounds):
            for target in order if round_ % 2 == 0 else order[::-1]:
                out = workdir / "export.xlsx" if target == "xlsx" else None
                result = run_child(args, target, database_url, admin_id, out)
                if target == "xlsx" and out:
                    try:
                        result["rows"], first = xlsx_rows(out)
                        result["first"] = first
                    except (ValueError, zipfile.BadZipFile, KeyError) as exc:
                        problems.append(f"xlsx round {round_ + 1}: not a valid workbook: {exc}")
                    out.unlink(missing_ok=True)
                check(target, result, args.rows, problems, round_)
                results.setdefault(target, []).append(result)
                print(
                    f"  round {round_ + 1} {target:<5} {result['wall']:6.2f} s  "
                    f"peak {result['peak']:5.1f} MB",
                    flush=True,
                )
        if args.library_rows:
            for library in ("xlsxwriter", "openpyxl"):
                out = workdir / f"{library}.xlsx"
                results[library] = [run_child(args, library, database_url, admin_id, out)]
                out.unlink(missing_ok=True)
        finished = time.perf_counter()
    finally:
        if not args.keep:
            drop_database(database_url)
        shutil.rmtree(workdir, ignore_errors=True)

    safe_url = make_url(database_url).render_as_string(hide_password=True)
    report(
        results,
        args,
        {
            "database": f"{dialect.name} {version}  {safe_url}"
            + ("  (kept)" if args.keep else "  (dropped)"),
            "data": f"{args.rows:,} confirmed signatures of one petition (+{args.rows // 19:,} "
            f"pending), 30 % through 40 organisations, 40 % with a source; seed {args.seed}",
            "setup": f"migrate {migrated - started:.1f} s, insert {inserted - migrated:.1f} s, "
            f"measure {finished - inserted:.1f} s",
            "app": run._git_state(),
            "machine": f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs ({run._cpu_model()}), {platform.platform(terse=True)}",
            "load": f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        },
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results, "problems": problems}, indent=2))
    if problems:
        print()
        print("!" * 78)
        print("!! THIS RUN IS NOT VALID:")
        for problem in problems[:20]:
            print(f"!!   {problem}")
        print("!" * 78)
        return 1
    return 0


def check(target: str, result: dict[str, Any], n: int, problems: list[str], round_: int) -> None:
    where = f"{target} round {round_ + 1}"
    if target == "bare":
        if result["rows"] != n:
            problems.append(f"{where}: {result['rows']} rows, not {n}")
        return
    if result["status"] != 200:
        problems.append(f"{where}: answered {result['status']}")
    if result["x_rows"] != n:
        problems.append(f"{where}: counted {result['x_rows']} rows for the audit, not {n}")
    if result["rows"] != n:
        problems.append(f"{where}: {result['rows']} rows in the file, not {n}")


def report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace,
           setup: dict[str, str]) -> None:  # fmt: skip
    print()
    for key, value in setup.items():
        print(f"  {key:<9} {value}")
    print()
    labels = {
        "bare": "bare    raw cursor → csv.writer → /dev/null",
        "csv": "csv     GET …/signataires.csv (streamed)",
        "xlsx": "xlsx    GET …/signataires.xlsx (streamed)",
    }
    bare = statistics.median(r["wall"] for r in results["bare"])
    print(
        f"  {'target':<42} {'wall s':>7} {'÷ bare':>7} {'rows/s':>9} {'CPU s':>6} "
        f"{'MB out':>7} {'RSS before':>10} {'peak RSS':>9} {'growth':>7}  runs (s)"
    )
    for key, label in labels.items():
        runs = results[key]
        wall = statistics.median(r["wall"] for r in runs)
        print(
            f"  {label:<42} {wall:>7.2f} {wall / bare:>6.2f}× {args.rows / wall:>9,.0f} "
            f"{statistics.median(r['cpu'] for r in runs):>6.2f} "
            f"{statistics.median(r['bytes'] for r in runs) / 1e6:>7.1f} "
            f"{max(r['rss_before'] for r in runs):>7.1f} MB {max(r['peak'] for r in runs):>6.1f} MB"
            f" {max(r['peak'] - r['rss_before'] for r in runs):>4.1f} MB"
            f"  {' '.join(format(r['wall'], '.2f') for r in runs)}"
        )
    for library in ("xlsxwriter", "openpyxl"):
        if library in results:
            r = results[library][0]
            scaled = r["wall"] * args.rows / max(r["rows"], 1)
            print(
                f"  {library + ' (for comparison)':<42} {scaled:>7.2f} {scaled / bare:>6.2f}× "
                f"{r['rows'] / r['wall']:>9,.0f} {r['cpu'] * args.rows / max(r['rows'], 1):>6.2f}"
                f" {'':>7} {r['rss_before']:>7.1f} MB {r['peak']:>6.1f} MB"
                f" {r['peak'] - r['rss_before']:>4.1f} MB"
                f"  {r['rows']:,} rows in {r['wall']:.2f} s, scaled"
            )
    print()
    if "xlsx" in results and results["xlsx"][0].get("first"):
        print(f"  xlsx first rows: {results['xlsx'][0]['first'][:2]}")
    for key in ("csv", "xlsx"):
        runs = results[key]
        wall = max(r["wall"] for r in runs)
        peak = max(r["peak"] for r in runs)
        growth = max(r["peak"] - r["rss_before"] for r in runs)
        ok = wall <= TARGET_S and peak < TARGET_MB
        print(
            f"  {key:<5} {args.rows:,} rows: slowest run {wall:.2f} s (target ≤ {TARGET_S:g} s), "
            f"peak RSS of the process {peak:.1f} MB, {growth:.1f} MB over the loaded app "
            f"(target < {TARGET_MB:g} MB)   {'PASS' if ok else 'FAIL'}"
        )


if __name__ == "__main__":
    sys.exit(main())
