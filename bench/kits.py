"""The communication kit: a cached flyer download, a cold A5 flyer, a 7-rally day built cold.

Run by hand, not in CI (see bench/README.md):

    .venv/bin/python bench/kits.py            # a temporary SQLite file, about 3½ minutes
    .venv/bin/python bench/kits.py --database-url postgresql://postgres@127.0.0.1:5432/kits_bench
    .venv/bin/python bench/kits.py --help

The issue's three targets, measured in one run on the same content (the demo collective
« Les 400 000 » from campaign/content/data, its open petition, three approved member
organisations, and an upcoming mobilisation day with 7 published rallies: Paris, Rennes,
Lille, Strasbourg, Lyon, Marseille, Toulouse):

    (b) cold flyer   GET /kit/appel.pdf on an empty cache, through Flask's test client,
                     5 times (the cache folder emptied before each): median and max,
                     target <= 1 s. The first render of the process is timed apart.
    (c) whole kit    services.prebuild() (what `flask kits build` runs) on an empty cache:
                     every rally's poster, ZIP and social images, the day's flyer, the
                     call flyer and the member kits; target <= 15 s. Also timed without
                     the member kits (the 7-rally day's kit alone), and the 7 rally kits
                     alone.
    (a) cached flyer GET /kit/appel.pdf once it is cached, under gunicorn (4 sync workers,
                     as bench/run.py), driven by wrk with bench/load.lua, against a bare
                     Flask app under the same gunicorn settings that returns a fixed small
                     HTML page (GET /page); real and bare alternate, the order flips every
                     round. Target: flyer req/s >= 0.70 of the bare page's. Two more
                     targets, for reading the result: the same PDF bytes returned as a
                     constant by the bare app (GET /file: how much of the gap is the size
                     of the file), and a static file of the real app (GET /static/css/
                     site.css: its hooks, but no database and no document: the ceiling of
                     any view of this app on this machine).

Exit status: 0 when the run is valid, whatever the figures (it is a report); 1 when it is
not (a download did not answer 200 with the cached PDF, a wrk run had errors, prebuild
did not build the kit); 2 when it could not be set up. A PostgreSQL database is dropped
and recreated at the start, so its name must contain « bench » (as for bench/nearest.py).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from common import SetupError, ensure_venv  # bench/ is on sys.path: scripts run from it

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

TARGET_CACHED_RATIO = 0.70  # (a) cached flyer req/s over bare page req/s, at least
TARGET_COLD_FLYER_S = 1.0  # (b) a cold A5 flyer, at most
TARGET_WHOLE_KIT_S = 15.0  # (c) the whole kit of a 7-rally day built cold, at most

# The seven cities of the demo content's national day, with a venue each.
CITIES = (
    ("75056", "Place de la République", "Place de la République, 75011 Paris"),
    ("35238", "Esplanade Charles-de-Gaulle", "Esplanade Charles-de-Gaulle, 35000 Rennes"),
    ("59350", "Place de la République", "Place de la République, 59000 Lille"),
    ("67482", "Place Kléber", "Place Kléber, 67000 Strasbourg"),
    ("69123", "Place Bellecour", "Place Bellecour, 69002 Lyon"),
    ("13055", "Vieux-Port", "Quai du Port, 13002 Marseille"),
    ("31555", "Place du Capitole", "Place du Capitole, 31000 Toulouse"),
)
MEMBERS = ("Enfance Ensemble", "Fédération des parents solidaires", "Réseau jeunesse et droits")
BARE_SIZE_DEFAULT = 17_000  # bytes: the size of bare_app.py's filler page in bench/run.py
STATIC_PATH = "/static/css/site.css"  # a file the real app serves without the database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(
            "Benchmark the communication kit: a cached flyer download under gunicorn against "
            "a bare Flask page (target >= 0.70), a cold A5 flyer (<= 1 s), and the whole kit "
            "of a 7-rally day built cold (<= 15 s)."
        ),
        epilog="Needs wrk (apt-get install -y wrk). See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--database-url",
        help="SQLite or PostgreSQL URL; its database is emptied (default: a temporary SQLite file)",
    )
    p.add_argument("--flyers", type=int, default=5, help="(b) cold renders of the A5 flyer")
    p.add_argument("--builds", type=int, default=1, help="(c) cold builds of each kit variant")
    p.add_argument("--seconds", type=float, default=10.0, help="(a) measure window of each run")
    p.add_argument("--rounds", type=int, default=3, help="(a) rounds; each measures all targets")
    p.add_argument("--warmup", type=float, default=3.0, help="(a) warm-up seconds per target")
    p.add_argument("--grace", type=float, default=3.0, help="extra wrk time for in-flight requests")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (concurrency)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers (both apps)")
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class (both apps)")
    p.add_argument("--real-port", type=int, default=8111)
    p.add_argument("--bare-port", type=int, default=8112)
    p.add_argument(
        "--bare-bytes", type=int, default=BARE_SIZE_DEFAULT, help="size of the bare HTML page"
    )
    p.add_argument("--skip-http", action="store_true", help="leave out (a): no gunicorn, no wrk")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- the bare app


def bare_app() -> Any:
    """The baseline, served by gunicorn as `kits:bare_app()` from bench/: Flask returning a
    fixed HTML page (BENCH_PAGE_BYTES long) at /page, and, for comparison only, the cached
    flyer's bytes (BENCH_KIT_FILE, read once) as a constant at /file. No database, no
    hooks, no session: the floor for a Flask GET on this machine."""
    from flask import Flask, Response

    size = int(os.environ.get("BENCH_PAGE_BYTES", str(BARE_SIZE_DEFAULT)))
    head = b"<!doctype html>\n<html lang=fr><meta charset=utf-8><title>Bare</title>\n<p>"
    tail = b"</p>\n</html>\n"
    page = head + b"x" * max(size - len(head) - len(tail), 0) + tail
    kit_file = os.environ.get("BENCH_KIT_FILE")
    flyer = Path(kit_file).read_bytes() if kit_file else b"%PDF-1.7\n"

    app = Flask("bare")

    @app.get("/page")
    def bare_page() -> Response:
        return Response(page, mimetype="text/html")

    @app.get("/file")
    def bare_file() -> Response:
        return Response(flyer, mimetype="application/pdf")

    return app


# --------------------------------------------------------------------------- content


@dataclass
class Content:
    collective_id: int
    petition_slug: str
    day_title: str
    rally_ids: list[int]
    member_ids: list[int]


def make_content(app: Any) -> Content:
    """The demo collective and its open petition (load_content), three approved members,
    and a day three weeks ahead with the seven rallies, one or two organisers each."""
    from campaign.content.services import load_content
    from campaign.extensions import db
    from campaign.kits import services
    from campaign.rallies.models import today
    from tests.factories import make_day, make_member, make_rally

    with app.app_context():
        collective = load_content()
        members = [make_member(collective, name) for name in MEMBERS]
        when = today() + timedelta(days=21)
        day = make_day(collective, when=when, title=f"Mobilisation nationale du {when:%d/%m/%Y}")
        rallies = [
            make_rally(
                day,
                insee,
                venue=venue,
                address=address,
                start=clock(14, 0),
                end=clock(17, 0),
                organisations=members[i % len(members) : i % len(members) + 1 + i % 2],
            )
            for i, (insee, venue, address) in enumerate(CITIES)
        ]
        db.session.commit()
        petition = services.kit_petition()
        if petition is None:
            raise SetupError("the demo content has no open petition: the kit has no call flyer")
        content = Content(
            collective.id,
            petition.slug,
            day.title,
            [r.id for r in rallies],
            [m.id for m in members],
        )
        kit_rallies = [r.id for r in services.kit_rallies()]
        if sorted(kit_rallies) != sorted(content.rally_ids):
            raise SetupError(f"the kit lists rallies {kit_rallies}, not {content.rally_ids}")
        db.session.remove()
    return content


# --------------------------------------------------------------------------- measuring


class Steps:
    """Time spent in the kit's heavy steps, by wrapping the module functions that the kit's
    services call: WeasyPrint (render.pdf), pdfium + PNG encoding (render.png_pages) and
    the QR codes (qr.qr_svg, qr.qr_png). What is left is the database, the documents'
    content and keys, the ZIPs and the writing of files."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def watching(self) -> Iterator[Steps]:
        from campaign.kits import qr, render

        wrapped = {
            "weasyprint": (render, "pdf"),
            "raster": (render, "png_pages"),
            "qr": (qr, "qr_svg"),
            "qr_png": (qr, "qr_png"),
        }
        originals = {key: getattr(module, name) for key, (module, name) in wrapped.items()}

        def timed(key: str, function: Callable[..., Any]) -> Callable[..., Any]:
            step = "qr" if key.startswith("qr") else key

            def call(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started
                    self.calls[step] = self.calls.get(step, 0) + 1

            return call

        for key, (module, name) in wrapped.items():
            setattr(module, name, timed(key, originals[key]))
        try:
            yield self
        finally:
            for key, (module, name) in wrapped.items():
                setattr(module, name, originals[key])

    def describe(self, total: float) -> str:
        parts = []
        for step, label in (("weasyprint", "WeasyPrint"), ("raster", "PNG"), ("qr", "QR")):
            if self.calls.get(step):
                parts.append(f"{label} {self.calls[step]}× {self.seconds[step]:.2f} s")
        rest = total - sum(self.seconds.values())
        parts.append(f"rest {rest:.2f} s")
        return ", ".join(parts)


def empty_cache(app: Any) -> Path:
    """Delete the kit's cache folder (<instance>/kits): every file is built anew."""
    from campaign.kits import cache

    with app.app_context():
        folder = cache.folder()
    shutil.rmtree(folder)
    folder.mkdir()
    return folder


def cache_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".lock")]
    return len(files), sum(p.stat().st_size for p in files)


@dataclass
class Timed:
    label: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def run(self) -> Iterator[Steps]:
        steps = Steps()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with steps.watching():
            yield steps
        wall = time.perf_counter() - wall0
        self.wall.append(wall)
        self.cpu.append(time.process_time() - cpu0)
        self.notes.append(steps.describe(wall))


def cold_flyers(app: Any, n: int, problems: list[str]) -> tuple[Timed, Timed]:
    """(b) The first render of this process, then n cold GET /kit/appel.pdf."""
    client = app.test_client()
    first = Timed("first render in this process")
    timed = Timed("cold GET /kit/appel.pdf")
    for i in range(n + 1):
        empty_cache(app)
        with (first if i == 0 else timed).run():
            response = client.get("/kit/appel.pdf")
            body = response.get_data()
        if response.status_code != 200 or not body.startswith(b"%PDF-"):
            problems.append(f"cold GET /kit/appel.pdf: {response.status}, {body[:40]!r}")
    return first, timed


def whole_kit(app: Any, content: Content, builds: int, problems: list[str]) -> dict[str, Timed]:
    """(c) services.prebuild() on an empty cache: as it is, without the member kits, and
    the seven rally kits alone (poster, QR codes, social images, ZIP, preview)."""
    from unittest import mock

    from campaign.content.models import Collective
    from campaign.extensions import db
    from campaign.kits import services
    from campaign.kits.documents import rally_poster

    runs = {
        "whole": Timed("prebuild(): the whole kit, member kits included"),
        "day": Timed("prebuild() without the member kits"),
        "rallies": Timed("the 7 rally kits alone"),
    }
    expected = {
        "whole": 1 + len(content.member_ids) + 1 + len(content.rally_ids),
        "day": 1 + 1 + len(content.rally_ids),
    }
    for _ in range(builds):
        for key, timed in runs.items():
            folder = empty_cache(app)
            with app.app_context():
                collective = db.session.get(Collective, content.collective_id)
                with contextlib.ExitStack() as stack:
                    if key == "day":
                        stack.enter_context(mock.patch.object(services, "kit_members", list))
                    with timed.run():
                        if key == "rallies":
                            rallies = services.kit_rallies()
                            for rally in rallies:
                                services.rally_zip(rally)
                                services.preview_file(rally_poster(rally))
                            built = len(rallies)
                        else:
                            built = services.prebuild(collective)  # type: ignore[arg-type]
                db.session.remove()
            files, size = cache_size(folder)
            timed.notes[-1] += f"; {built} kits, {files} files, {size / 1e6:.1f} MB"
            if built != expected.get(key, len(content.rally_ids)):
                problems.append(f"{timed.label}: {built} kits built")
    return runs


# --------------------------------------------------------------------------- (a) over HTTP


def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body, time.perf_counter() - started


def cached_downloads(
    app: Any, args: argparse.Namespace, database_url: str, workdir: Path, problems: list[str]
) -> dict[str, Any]:
    """(a) The real app and the bare app under gunicorn, wrk against each in turn."""
    import run
    from sqlalchemy.engine import make_url

    from campaign.kits import services
    from campaign.kits.documents import call_flyer

    if shutil.which("wrk") is None:
        raise SetupError("wrk is not installed: apt-get install -y wrk")
    for port in (args.real_port, args.bare_port):
        if not run._port_free(port):
            raise SetupError(f"port {port} is in use (use --real-port / --bare-port)")

    url = make_url(database_url)
    postgres = url.get_backend_name() == "postgresql"
    admin_url = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    env = dict(os.environ)  # already cleaned of the app's settings (clean_environment)
    env.update(
        FLASK_APP="wsgi.py",
        DATABASE_URL=url.render_as_string(hide_password=False),
        SECRET_KEY=app.config["SECRET_KEY"],
        CAMPAIGN_ENV="production",
        RATELIMIT_ENABLED="0",
        # The documents' keys hold their URLs: the same PUBLIC_URL as the app that built them.
        PUBLIC_URL=app.config["PUBLIC_URL"],
        MAIL_SERVER="127.0.0.1",  # production wants one; nothing is sent
    )
    folder = empty_cache(app)
    servers: list[run.Server] = []
    out: dict[str, Any] = {}
    try:
        real = run.start_gunicorn(
            "real", "wsgi:app", args.real_port, args, env, workdir, ROOT, "/kit/"
        )
        servers.append(real)
        # The first download: a fresh worker, an empty cache.
        status, headers, body, first = http_get(args.real_port, "/kit/appel.pdf")
        _, _, _, second = http_get(args.real_port, "/kit/appel.pdf")
        with app.app_context():
            petition = services.kit_petition()
            cached = services.pdf_file(call_flyer(petition.collective, petition))  # type: ignore[union-attr]
        files, _ = cache_size(folder)
        if status != 200 or headers.get("Content-Type") != "application/pdf":
            problems.append(f"GET /kit/appel.pdf under gunicorn: {status} {headers}")
        if body != cached.read_bytes() or files != 1:
            problems.append(
                f"gunicorn served {len(body)} bytes, the cache holds {files} files and "
                f"{cached.stat().st_size} bytes for the flyer: not the same document"
            )
        out["first_download_s"] = first
        out["second_download_s"] = second
        out["flyer_bytes"] = len(body)

        bare_env = dict(env, BENCH_PAGE_BYTES=str(args.bare_bytes), BENCH_KIT_FILE=str(cached))
        bare = run.start_gunicorn(
            "bare", "kits:bare_app()", args.bare_port, args, bare_env, workdir, BENCH_DIR, "/page"
        )
        servers.append(bare)
        status, _, page, _ = http_get(args.bare_port, "/page")
        if status != 200 or not page.startswith(b"<!doctype html>"):
            raise SetupError(f"bare GET /page answered {status} with {len(page)} bytes")
        status, _, same, _ = http_get(args.bare_port, "/file")
        if status != 200 or same != body:
            raise SetupError(f"bare GET /file answered {status} with {len(same)} bytes")
        out["bare_bytes"] = len(page)

        targets = {
            "flyer": run.Target(
                "flyer", "cached flyer  GET /kit/appel.pdf", "GET", "/kit/appel.pdf", 200, True
            ),
            "bare": run.Target("bare", "bare page  GET /page", "GET", "/page", 200, False),
            "file": run.Target("file", "bare, same PDF  GET /file", "GET", "/file", 200, False),
        }
        # The real app's floor: a static file goes through its hooks, not the database.
        status, _, _, _ = http_get(args.real_port, STATIC_PATH)
        if status == 200:
            targets["static"] = run.Target(
                "static", "app static  GET " + STATIC_PATH, "GET", STATIC_PATH, 200, True
            )
        session = run.Session(cookie="", csrf="", page=b"")
        print(
            f"  flyer {len(body)} bytes, bare page {len(page)} bytes; real app on "
            f":{args.real_port}, bare app on :{args.bare_port}; gunicorn -w {args.workers} "
            f"-k {args.worker_class}; wrk -t{args.wrk_threads} -c{args.connections}"
        )

        def measure(key: str, seconds: float, round_no: int) -> run.RunResult:
            target = targets[key]
            server = real if target.real else bare

            def pids() -> run.Pids:
                database = url.database or ""
                return run.Pids(
                    app=server.worker_pids(),
                    servers=[p for s in servers for p in s.worker_pids()],
                    db=run._bench_backend_pids(admin_url, database) if postgres else [],
                )

            tag = f"r{round_no + 1}{key}" if round_no >= 0 else f"w{key}"
            result = run.run_wrk(target, server.port, seconds, round_no, args, session, pids, tag)
            phase = "warm-up" if round_no < 0 else f"round {round_no + 1}"
            print(
                f"    {phase:<8} {key:<6} {result.rps:8.1f} req/s  "
                f"{result.errors(200):4d} errors  CPU/req app {result.app_cpu_ms:5.2f} ms  "
                f"other CPU {result.other_cpu:4.0%}"
            )
            return result

        runs: list[run.RunResult] = []
        if args.warmup > 0:
            for key in targets:
                runs.append(measure(key, args.warmup, -1))
        order = list(targets)
        for round_no in range(args.rounds):
            keys = order if round_no % 2 == 0 else order[::-1]
            for key in keys:
                runs.append(measure(key, args.seconds, round_no))
        summaries = {
            key: run.Summary(t, [r for r in runs if r.target == key and r.round >= 0])
            for key, t in targets.items()
        }
        for s in summaries.values():
            if s.errors:
                problems.append(f"{s.target.label}: {s.errors} errors under wrk")
        files_after, _ = cache_size(folder)
        if files_after != 1:
            problems.append(f"the cache holds {files_after} files after wrk, not the one flyer")
        out["summaries"] = summaries
    finally:
        for server in reversed(servers):
            server.stop()
    return out


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report_timed(t: Timed) -> None:
    median = statistics.median(t.wall)
    print(
        f"  {t.label:<50} {len(t.wall):>2}× median {median:6.2f} s  max {max(t.wall):6.2f} s"
        f"  CPU {statistics.median(t.cpu):6.2f} s"
    )
    for note in t.notes:
        print(f"      {note}")


def print_http(out: dict[str, Any]) -> float:
    import run

    summaries = out["summaries"]
    print(
        f"  first download, fresh worker, empty cache: {out['first_download_s']:.2f} s; "
        f"a second one: {out['second_download_s'] * 1000:.1f} ms (maybe another worker's first)"
    )
    header = (
        f"  {'target':<36} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6}"
        f"  {'app CPU':>8} {'db CPU':>7}  req/s per round"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for s in summaries.values():
        d = s.as_dict()
        rounds = " ".join(f"{x:.0f}" for x in d["per_round_rps"])
        print(
            f"  {s.target.label:<36} {d['requests_per_second']:8.1f} {d['p50_ms']:7.1f} "
            f"{d['p95_ms']:7.1f} {d['errors']:6d}  {d['app_cpu_ms_per_request']:5.2f} ms "
            f"{d['db_cpu_ms_per_request']:4.2f} ms  {rounds}"
        )
    text, ratio = run.ratio_line(
        "cached flyer / bare page", summaries["flyer"], summaries["bare"], TARGET_CACHED_RATIO
    )
    print(text)
    same_text, _ = run.ratio_line(
        "cached flyer / bare same PDF", summaries["flyer"], summaries["file"], TARGET_CACHED_RATIO
    )
    print(same_text.replace(" meets ", " ").replace(" BELOW ", " "))  # for reading only
    if "static" in summaries:
        floor_text, _ = run.ratio_line(
            "app static file / bare page",
            summaries["static"],
            summaries["bare"],
            TARGET_CACHED_RATIO,
        )
        print(floor_text.replace(" meets ", " ").replace(" BELOW ", " "))
    other = [r.other_cpu for s in summaries.values() for r in s.runs]
    if other and max(other) > 0.10:
        print(
            f"  note: other processes used up to {max(other):.0%} of the machine's CPU during "
            "some runs; the per-round figures show how much that moved the results."
        )
    return ratio


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ensure_venv(__file__, "weasyprint")
        return bench(args)
    except SetupError as exc:
        print(f"\nbench/kits.py: cannot run the benchmark:\n{exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    sys.path.insert(0, str(ROOT))  # tests.factories
    import nearest
    import run

    workdir = Path(tempfile.mkdtemp(prefix="bench-kits-"))
    nearest.clean_environment(workdir)
    try:
        database_url = nearest.fresh_database(args.database_url, workdir)
    except nearest.SetupError as exc:
        raise SetupError(str(exc)) from exc

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from campaign.extensions import db

    load_before = os.getloadavg()[0]
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: the machine is already busy (load average {load_before:.2f}); "
            "the figures will be noisier",
            file=sys.stderr,
        )
    started = time.perf_counter()
    try:
        app = nearest.build_app(database_url)
    except OperationalError as exc:
        raise SetupError(f"cannot reach the database: {exc.orig}") from exc
    content = make_content(app)
    with app.app_context():
        dialect = db.engine.dialect
        version = ".".join(map(str, dialect.server_version_info or ()))
    safe_url = make_url(database_url).render_as_string(hide_password=True)
    print(
        f"database {dialect.name} {version} {safe_url}: demo content, "
        f"{len(content.rally_ids)} rallies on « {content.day_title} », "
        f"{len(content.member_ids)} members ({time.perf_counter() - started:.1f} s)"
    )

    problems: list[str] = []
    print(f"(b) {args.flyers} cold A5 call flyers")
    first, flyers = cold_flyers(app, args.flyers, problems)
    print(f"(c) the whole kit built cold, {args.builds}× each variant")
    kits = whole_kit(app, content, args.builds, problems)
    http: dict[str, Any] = {}
    if not args.skip_http:
        print(f"(a) cached flyer under gunicorn: {args.rounds} rounds of {args.seconds:g} s")
        try:
            http = cached_downloads(app, args, database_url, workdir, problems)
        except run.SetupError as exc:
            raise SetupError(str(exc)) from exc

    print()
    print(
        f"campaign kits bench  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}  "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({run._cpu_model()})"
    )
    print(f"  app: {run._git_state()}   database: {dialect.name} {version}")
    print(f"  1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print()
    report_timed(first)
    report_timed(flyers)
    for timed in kits.values():
        report_timed(timed)
    cold_median = statistics.median(flyers.wall)
    whole = statistics.median(kits["whole"].wall)
    print()
    results: dict[str, Any] = {}
    ratio = None
    if http:
        ratio = print_http(http)
        print()
        results["a"] = {
            "ratio": round(ratio, 3),
            "target": TARGET_CACHED_RATIO,
            "targets": {k: s.as_dict() for k, s in http["summaries"].items()},
            "first_download_s": round(http["first_download_s"], 3),
            "flyer_bytes": http["flyer_bytes"],
            "bare_bytes": http["bare_bytes"],
            "pass": ratio >= TARGET_CACHED_RATIO,
        }
        print(
            f"  (a) cached flyer / bare page   {ratio:6.3f}   target >= {TARGET_CACHED_RATIO:.2f}"
            f"   {verdict(ratio >= TARGET_CACHED_RATIO)}"
        )
    else:
        print("  (a) cached flyer / bare page   not measured (--skip-http)")
    print(
        f"  (b) cold A5 flyer, median      {cold_median:6.2f} s  target <= "
        f"{TARGET_COLD_FLYER_S:g} s    {verdict(cold_median <= TARGET_COLD_FLYER_S)}"
        f"   (max {max(flyers.wall):.2f} s; first of the process {first.wall[0]:.2f} s)"
    )
    print(
        f"  (c) whole kit, 7-rally day      {whole:6.2f} s  target <= {TARGET_WHOLE_KIT_S:g} s   "
        f"{verdict(whole <= TARGET_WHOLE_KIT_S)}   (without the member kits "
        f"{statistics.median(kits['day'].wall):.2f} s; the 7 rally kits alone "
        f"{statistics.median(kits['rallies'].wall):.2f} s)"
    )
    results["b"] = {
        "median_s": round(cold_median, 3),
        "max_s": round(max(flyers.wall), 3),
        "runs_s": [round(x, 3) for x in flyers.wall],
        "first_in_process_s": round(first.wall[0], 3),
        "target": TARGET_COLD_FLYER_S,
        "pass": cold_median <= TARGET_COLD_FLYER_S,
    }
    results["c"] = {
        key: {"runs_s": [round(x, 2) for x in t.wall], "notes": t.notes} for key, t in kits.items()
    }
    results["c"]["target"] = TARGET_WHOLE_KIT_S
    results["c"]["pass"] = whole <= TARGET_WHOLE_KIT_S
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"results": results, "problems": problems}, indent=2, default=str) + "\n"
        )
    if problems:
        print()
        print("!" * 78)
        print("!! THIS RUN IS NOT VALID:")
        for problem in problems[:20]:
            print(f"!!   {problem}")
        print("!" * 78)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
