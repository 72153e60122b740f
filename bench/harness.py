"""The benchmark harness of campaign: the real app against bare Flask, in one run, one table.

    make bench                                  # every scenario
    make bench SCENARIOS="sign page"            # some of them
    make bench-smoke                            # tiny counts, validity checks only (CI)
    .venv/bin/python bench/harness.py --help    # options

Scenarios (bench/README.md says what each measures): exact, faults, sign, page, count, kit,
export, nearest. The database `campaign_bench` is recreated, the app and the bare baselines
(bench/bare_app.py) start once under gunicorn with the same settings, every HTTP load is
wrk with bench/load.lua; one table is printed and written as JSON to bench/results/.

Exit status: 0 when the run is valid, whatever the targets (it is a report); 1 when a
validity check failed (a signing not answered 303, rows not matching the responses…) or a
scenario crashed (the others still run); 2 when it could not be set up.
"""

from __future__ import annotations

import argparse
import base64
import csv
import email
import email.policy
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection, HTTPMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
# Run in this order: the queue workers run in exact and faults only (their mail must not be
# in the way of later figures, nor the mail of earlier signings in theirs); nearest's 10 000
# rallies come after the kit (which prints every upcoming rally).
SCENARIOS = ("exact", "faults", "sign", "page", "count", "kit", "export", "nearest")
# --smoke: these first, so that options given after them still win.
SMOKE = (
    "--seconds 1 --rounds 1 --warmup 0 --grace 1 --exact-signings 50 --exact-confirmations 10 "
    "--faults-signings 40 --redis-down 2 --quiet 15 --settle-timeout 30 --export-rows 2000 "
    "--export-rounds 1 --rallies 300 --queries 40 --flyers 1 --database campaign_bench_smoke"
)
# The app sees only these of the caller's environment, and what setup() sets.
KEEP_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR")
COLUMNS = ("figure", "app", "baseline", "ratio", "target", "result")
EXPORT_SLUG = "petition-export-banc"
KIT_CITIES = ("75056", "35238", "59350", "67482", "69123", "13055", "31555")  # INSEE codes
END_LEASES = """UPDATE outbox SET lease_until = now()
    WHERE status IN ('queued', 'sending') AND lease_until < now() + %s"""
MEMBERS = ("Enfance Ensemble", "Fédération des parents solidaires", "Réseau jeunesse et droits")


class SetupError(RuntimeError):
    """The benchmark could not be set up (exit 2)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the real app against bare Flask baselines (bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = p.add_argument
    add("--scenarios", default=" ".join(SCENARIOS), help="which ones, space-separated")
    add("--smoke", action="store_true", help=f"tiny counts, no targets (CI): {SMOKE}")
    add("--seconds", type=float, default=10.0, help="window of each wrk run")
    add("--rounds", type=int, default=3, help="rounds of app and baseline runs, in turn")
    add("--warmup", type=float, default=2.0, help="warm-up seconds of each target")
    add("--grace", type=float, default=3.0, help="wrk seconds for the requests in flight")
    add("--connections", type=int, default=32, help="wrk connections")
    add("--workers", type=int, default=2, help="gunicorn sync workers, both apps")
    add("--queue-workers", type=int, default=2, help="`flask worker` processes (exact, faults)")
    add("--queue-threads", type=int, help="threads of each `flask worker` (QUEUE_THREADS)")
    server = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")
    add("--postgres", default=server, help="server URL (env BENCH_POSTGRES)")
    add("--database", default="campaign_bench", help="dropped and recreated")
    add("--redis-url", help="a Redis to use (flushed) instead of an own redis-server: no faults")
    add("--slug", default="quatre-urgences", help="the demo petition signed")
    add("--exact-signings", type=int, default=20_000)
    add("--exact-confirmations", type=int, default=5_000)
    add("--faults-signings", type=int, default=1_000)
    add("--redis-down", type=float, default=20.0, help="faults: seconds without Redis")
    add("--quiet", type=float, default=40.0, help="stop waiting for mail after so long without")
    add("--settle-timeout", type=float, default=180.0, help="longest wait for mail")
    add("--flyers", type=int, default=5, help="kit: cold flyers rendered")
    add("--export-rows", type=int, default=1_000_000)
    add("--export-rounds", type=int, default=2)
    add("--rallies", type=int, default=10_000, help="nearest: rallies inserted")
    add("--queries", type=int, default=1000, help="nearest: searches timed")
    add("--json", type=Path, help="results file (default bench/results/<time>.json)")
    add("--child", help=argparse.SUPPRESS)  # one in-process measurement, in a fresh process
    add("--child-opts", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args([*SMOKE.split(), *argv] if "--smoke" in argv else argv)
    chosen = args.scenarios.replace(",", " ").split()
    if unknown := set(chosen) - set(SCENARIOS):
        p.error(f"unknown scenarios {sorted(unknown)}: choose among {' '.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in chosen]  # always in this order
    return args


# --------------------------------------------------------------------------- small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(
    port: int, path: str, body: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, HTTPMessage, bytes]:
    """GET `path`, or POST `body`: (status, headers, body)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST" if body else "GET", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-25:]) if path.exists() else ""


def hidden_inputs(page: str, action: str) -> dict[str, str]:
    """Every hidden input of the form posting to `action`, as a browser would send them."""
    attr = re.compile(r'([\w-]+)="([^"]*)"')
    for attrs, inner in re.findall(r"<form\b([^>]*)>(.*?)</form>", page, re.S):
        if dict(attr.findall(attrs)).get("action", "").endswith(action):
            inputs = [dict(attr.findall(tag)) for tag in re.findall(r"<input\b[^>]*>", inner)]
            return {
                i["name"]: html.unescape(i.get("value", ""))
                for i in inputs
                if i.get("type") == "hidden" and "name" in i
            }
    raise SetupError(f"the petition page has no form posting to {action}")


def xlsx_rows(path: Path) -> int:
    """Data rows of the streamed workbook's sheet, counted while decompressing."""
    with zipfile.ZipFile(path) as book, book.open("xl/worksheets/sheet1.xml") as sheet:
        rows, carry = 0, b""
        while chunk := sheet.read(1 << 20):
            data = carry + chunk
            carry = data[-4:]  # a "<row " cut in two is counted with the next chunk
            rows += data.count(b"<row ") - carry.count(b"<row ")
        return rows + carry.count(b"<row ") - 1  # the header


@dataclass
class Load:
    """What one wrk run (or several, merged) saw; latency in ms."""

    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # socket errors: connect, read, write, timeout
    window: float = 0.0  # first request to last response, s
    p50: float = 0.0
    p99: float = 0.0
    distinct: int = 0  # addresses among the POSTs

    @property
    def rps(self) -> float:
        return sum(self.statuses.values()) / self.window if self.window else 0.0

    @classmethod
    def merge(cls, loads: list[Load]) -> Load:
        merged = cls(errors=sum(x.errors for x in loads), window=sum(x.window for x in loads))
        for status in {s for x in loads for s in x.statuses}:
            merged.statuses[status] = sum(x.statuses.get(status, 0) for x in loads)
        merged.p50 = statistics.median(x.p50 for x in loads)
        merged.p99 = max(x.p99 for x in loads)  # the worst round's
        merged.distinct = sum(x.distinct for x in loads)
        return merged


class Sink:
    """The SMTP server the app's worker sends to: per recipient, the confirmation links
    received (one per confirmation mail) and how many other mails ("already signed")."""

    LINK = re.compile(r"/signature/confirmer/[A-Za-z0-9_-]+")

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.confirm: dict[str, list[str]] = {}
        self.other: dict[str, int] = {}
        self.firsts: list[tuple[str, str]] = []  # (address, link) of first mails, as they came
        self.last = time.monotonic()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(("plain",))
        link = self.LINK.search(part.get_content() if part else "")  # type: ignore[attr-defined]
        with self.lock:
            self.last = time.monotonic()
            for rcpt in (r.lower() for r in envelope.rcpt_tos):
                if not link:
                    self.other[rcpt] = self.other.get(rcpt, 0) + 1
                    continue
                if rcpt not in self.confirm:
                    self.firsts.append((rcpt, link.group(0)))
                self.confirm.setdefault(rcpt, []).append(link.group(0))
        return "250 OK"

    def tally(self, addresses: set[str]) -> tuple[int, int]:
        """(addresses without a confirmation mail, all mails to these addresses)."""
        with self.lock:
            n = [len(self.confirm.get(a, ())) for a in addresses]
            return n.count(0), sum(n) + sum(self.other.get(a, 0) for a in addresses)


# --------------------------------------------------------------------------- the harness


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.figures: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []  # all started here, stopped at the end
        self.workers: list[subprocess.Popen[bytes]] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
        self.path = f"/petitions/{args.slug}"

    # ----------------------------------------------------------------- processes

    def spawn(
        self, name: str, cmd: str, env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> Any:
        with (self.workdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                cmd.split(), cwd=cwd, env=env or self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def gunicorn(self, name: str, spec: str, port: int, env: dict[str, str], cwd: Path) -> None:
        options = f"--workers {self.args.workers} --worker-class sync --backlog 2048 --timeout 60"
        cmd = f"{BIN}/gunicorn {spec} --bind 127.0.0.1:{port} {options} --no-control-socket"
        proc = self.spawn(name, f"{cmd} --log-level warning", env, cwd)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                fetch(port, "/static/css/site.css" if name == "app" else "/page")
                return
            except OSError:
                time.sleep(0.2)
        raise SetupError(f"gunicorn {name} did not start:\n{tail(self.workdir / f'{name}.log')}")

    def start_redis(self) -> None:
        """Our own, so that faults may kill it; appendfsync always: a kill -9 loses nothing
        Redis acknowledged, what is lost is the app's."""
        import redis

        cmd = f"redis-server --port {self.redis_port} --bind 127.0.0.1 --dir {self.workdir}"
        self.redis_proc = self.spawn("redis", f"{cmd} --appendonly yes --appendfsync always")
        for _ in range(100):
            try:
                redis.Redis(port=self.redis_port).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise SetupError(f"redis-server did not start:\n{tail(self.workdir / 'redis.log')}")

    @property
    def worker_command(self) -> str:
        threads = self.args.queue_threads
        return f"{BIN}/flask worker" + (f" --workers {threads}" if threads else "")

    def start_workers(self) -> None:
        self.redis.flushdb()  # jobs queued with no worker running, or left over
        for i in range(self.args.queue_workers):
            self.workers.append(self.spawn(f"worker{i}", self.worker_command))

    def stop_workers(self) -> None:
        for proc in self.workers:
            self.stop(proc, signal.SIGINT)  # Huey's graceful stop
        self.workers = []

    def child(self, name: str, **opts: Any) -> dict[str, Any]:
        """One in-process measurement in a fresh process, with the app's environment."""
        cmd = [sys.executable, __file__, "--child", name, "--child-opts", json.dumps(opts)]
        done = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True)
        (self.workdir / f"child-{name}.log").write_text(done.stderr)  # the app's log
        if done.returncode != 0:
            raise SetupError(f"the {name} measurement failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    # ----------------------------------------------------------------- set-up

    def setup(self) -> None:
        import psycopg
        import redis

        a = self.args
        if shutil.which("wrk") is None:
            raise SetupError("wrk is not installed: bash scripts/ensure-apt.sh wrk")
        self.app_port, self.bare_port, smtp_port = free_port(), free_port(), free_port()
        self.public_url = f"http://127.0.0.1:{self.app_port}"
        self.env = {k: v for k, v in os.environ.items() if k in KEEP_ENV}
        self.own_redis = not a.redis_url and shutil.which("redis-server") is not None
        if self.own_redis:
            self.redis_port = free_port()
            self.start_redis()
            redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        else:
            redis_url = a.redis_url or "redis://127.0.0.1:6379/15"
            self.notes.append(f"Redis {redis_url} is not the harness's own: faults skipped")
        self.redis = redis.Redis.from_url(redis_url)
        try:
            self.redis.flushdb()
        except redis.RedisError as exc:
            raise SetupError(f"Redis at {redis_url}: {exc}") from exc
        server = a.postgres.rstrip("/")
        self.db_url = f"{server}/{a.database}"
        if not re.fullmatch(r"\w+", a.database):
            raise SetupError(f"unexpected database name {a.database!r}")
        try:
            with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {a.database} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {a.database}")
        except psycopg.Error as exc:
            raise SetupError(f"PostgreSQL at {server}: {exc}") from exc
        self.env.update(
            FLASK_APP="wsgi.py",
            CAMPAIGN_ENV="production",
            DATABASE_URL=self.db_url,
            SECRET_KEY=secrets.token_hex(32),
            TOTP_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            PUBLIC_URL=self.public_url,
            REDIS_URL=redis_url,
            RATELIMIT_ENABLED="0",  # every request comes from one address
            FORM_MIN_SECONDS="0",  # wrk posts the page's time stamp at once
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp_port),
            MAIL_USE_TLS="0",
            INSTANCE_PATH=str(self.workdir / "instance"),
        )
        print(f"database {a.database}: migrated, demo content, the kit's 7-rally day", flush=True)
        for command in ("db upgrade", "seed-demo"):
            cmd = [f"{BIN}/flask", *command.split()]
            done = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SetupError(f"flask {command} failed:\n{done.stdout}{done.stderr}")
        self.child("setup")
        self.db = psycopg.connect(self.db_url, autocommit=True)
        self.db.execute(__import__("bare_app").TABLE_DDL)
        self.sink = Sink(smtp_port)
        self.gunicorn("app", "wsgi:app", self.app_port, self.env, ROOT)
        self.preflight()
        page_file = self.workdir / "petition-page.html"
        page_file.write_bytes(self.page)
        bare_env = dict(self.env, BENCH_DATABASE_URL=self.db_url, BENCH_PAGE_FILE=str(page_file))
        self.gunicorn("bare", "bare_app:app", self.bare_port, bare_env, BENCH)
        if fetch(self.bare_port, "/page")[2] != self.page:
            raise SetupError("the bare GET /page does not answer the petition page's bytes")
        if fetch(self.bare_port, "/insert", f"{self.body}&email=x", self.headers)[0] != 303:
            raise SetupError("the bare POST /insert did not answer 303")

    def preflight(self) -> None:
        """One GET of the page; then every POST as a browser sends it: the form's hidden
        inputs (a time trap, a CSRF token if it has one), the cookies the page set, if any,
        Sec-Fetch-Site and Origin. After ~3 s, one signing, which must count."""
        status, headers, page = fetch(self.app_port, self.path)
        if status != 200:
            raise SetupError(f"GET {self.path} answered {status}:\n{page[:500]!r}")
        self.page = page
        fields = hidden_inputs(page.decode(), self.path)  # a csrf_token only if it has one
        cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or []]
        self.cookie = "; ".join(cookies)
        person = {"first_name": "Jeanne", "last_name": "Martin", "country": "FR"}
        fields.update(person, postcode="75011", consent="y", website="")
        self.body = urlencode(fields)
        self.headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
            "Origin": self.public_url,
        }
        if self.cookie:
            self.headers["Cookie"] = self.cookie
        time.sleep(3)  # a time trap drops a form sent too fast
        before = self.rows()
        body = f"{self.body}&email=bench-preflight%40example.org"
        status, headers, answer = fetch(self.app_port, self.path, body, self.headers)
        location = headers.get("Location", "")
        if status != 303 or not location.endswith(f"{self.path}/merci"):
            page = answer[:1500].decode(errors="replace")
            raise SetupError(f"the signing POST answered {status} {location!r}, not 303:\n{page}")
        if self.rows() != before + 1:
            why = "taken for a bot's? (the honeypot, FORM_MIN_SECONDS)"
            raise SetupError(f"the signing POST answered 303 but recorded no signature: {why}")

    # ----------------------------------------------------------------- measuring

    def sql(self, query: str, *params: Any) -> Any:
        return self.db.execute(query, params).fetchone()[0]

    def rows(self, table: str = "signatures") -> int:
        return self.sql(f"SELECT count(*) FROM {table}")  # noqa: S608 (two constant names)

    def confirmed(self) -> int:
        query = "SELECT count(*) FROM signatures s JOIN petitions p ON p.id = s.petition_id"
        return self.sql(f"{query} WHERE p.slug = %s AND s.confirmed_at IS NOT NULL", self.args.slug)

    def count_json(self) -> int:
        status, _, body = fetch(self.app_port, f"{self.path}/count.json")
        if status != 200:
            raise SetupError(f"count.json answered {status}")
        return int(json.loads(body)["signature_count"])

    def addresses(self, tag: str) -> set[str]:
        query = "SELECT lower(email) FROM signatures WHERE email LIKE %s"
        return {r[0] for r in self.db.execute(query, (f"bench-{tag}%",))}

    def wrk(self, port: int, path: str, seconds: float = 0, **kw: Any) -> Load:
        """One wrk run: for `seconds` (and the grace), or exactly `total` requests.
        Keywords: post, total, dup (every n-th POST reuses an address), connections, tag."""
        total = kw.get("total", 0)
        connections = min(kw.get("connections", self.args.connections), total or 10**6)
        done = self.workdir / f"done-{kw['tag']}"
        env = dict(os.environ, BENCH_PATH=path, BENCH_TAG=kw["tag"], BENCH_DONE=str(done))
        env.update(BENCH_METHOD="POST" if kw.get("post") else "GET", BENCH_BODY=self.body)
        env.update(BENCH_COOKIE=self.cookie, BENCH_ORIGIN=self.public_url)
        env.update(
            BENCH_SECONDS=str(seconds), BENCH_TOTAL=str(total), BENCH_DUP=str(kw.get("dup", 0))
        )
        duration = 86400 if total else max(1, round(seconds + self.args.grace))
        cmd = f"wrk -t1 -c{connections} -d{duration}s --timeout 30s -s {BENCH}/load.lua"
        proc = subprocess.Popen(
            [*cmd.split(), f"http://127.0.0.1:{port}"], env=env, text=True, stdout=subprocess.PIPE
        )
        if total:  # wrk cannot stop itself: load.lua says when the last answer came
            deadline = time.monotonic() + 120 + total * 0.05
            while not done.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)  # wrk then prints its summary
        out = proc.communicate(timeout=duration + 60 if not total else 60)[0]
        load = Load()
        for key, *values in (line.split()[1:] for line in out.splitlines() if line[:6] == "BENCH "):
            if key == "status":
                load.statuses[int(values[0])] = int(values[1])
            elif key in ("p50", "p99"):  # µs
                setattr(load, key, int(values[0]) / 1000)
            elif key == "window":
                load.window = float(values[0])
            else:
                setattr(load, key, int(values[0]))
        if not load.window and not load.statuses:
            raise SetupError(f"wrk failed ({proc.returncode}):\n{out[-2000:]}")
        return load

    def sign(self, total: int, tag: str, **kw: Any) -> Load:
        return self.wrk(self.app_port, self.path, post=True, total=total, tag=tag, **kw)

    def check(self, what: str, load: Load, expected: int, rows: int | None = None) -> None:
        """Every response `expected`, and (POST) one new row per response."""
        ok = load.statuses.get(expected, 0)
        bad = {s: n for s, n in load.statuses.items() if s != expected}
        if bad or load.errors:
            errors = f"{bad} and {load.errors} socket errors"
            self.problems.append(f"{what}: {ok} answered {expected}, but also {errors}")
        if rows is not None and rows != ok:
            self.problems.append(f"{what}: {rows} new rows for {ok} answers {expected}")

    def throughput(self, key: str, path: str, bare: str, post: bool = False) -> tuple[Load, Load]:
        """The app and its baseline in turn, the order flipped every round; warm-up first."""
        a = self.args
        runs: dict[str, list[Load]] = {"app": [], "bare": []}
        for rnd in range(-1 if a.warmup > 0 else 0, a.rounds):
            for side in ("app", "bare") if rnd % 2 == 0 else ("bare", "app"):
                port, target = (self.app_port, path) if side == "app" else (self.bare_port, bare)
                table = "signatures" if side == "app" else "bench_bare_signatures"
                rows = self.rows(table) if post else 0
                seconds = a.warmup if rnd < 0 else a.seconds
                load = self.wrk(port, target, seconds, post=post, tag=f"{key}{side}{rnd + 1}")
                phase = "warm-up" if rnd < 0 else f"round {rnd + 1}"
                print(
                    f"  {key:<6} {side:<4} {phase:<8} {load.rps:8.1f} req/s  "
                    f"p50 {load.p50:6.1f} ms  p99 {load.p99:6.1f} ms",
                    flush=True,
                )
                rows = self.rows(table) - rows if post else None
                self.check(f"{key} {side} {target}", load, 303 if post else 200, rows)
                if rnd >= 0:
                    runs[side].append(load)
        return Load.merge(runs["app"]), Load.merge(runs["bare"])

    def add(self, name: str, app: Any, base: Any = None, target: str = "", ok: Any = None) -> None:
        """One row of the table; a ratio when both sides are numbers; no verdict in smoke."""
        numbers = all(isinstance(v, int | float) for v in (app, base))
        ratio = round(app / base, 3) if numbers and base else None
        result = "-" if self.args.smoke or not target else "PASS" if ok else "FAIL"
        self.figures.append(
            dict(zip(COLUMNS, (name, app, base, ratio, target, result), strict=True))
        )

    def add_rate(self, name: str, app: Load, bare: Load, target: float) -> None:
        ok = bare.rps and app.rps / bare.rps >= target
        self.add(name, round(app.rps, 1), round(bare.rps, 1), f"ratio ≥ {target:.2f}", ok)

    # ----------------------------------------------------------------- scenarios

    def sc_sign(self) -> None:
        app, bare = self.throughput("sign", self.path, "/insert", post=True)
        self.add_rate("sign: signing POST vs bare INSERT (req/s)", app, bare, 0.70)
        name = f"sign: signing POST p99 at {self.args.connections} connections (ms)"
        self.add(name, app.p99, bare.p99, "≤ 50 ms", app.p99 <= 50)

    def sc_page(self) -> None:
        app, bare = self.throughput("page", self.path, "/page")
        self.add_rate(f"page: petition page vs bare, {len(self.page):,} B (req/s)", app, bare, 0.9)

    def sc_count(self) -> None:
        app, bare = self.throughput("count", f"{self.path}/count.json", "/page")
        self.add_rate("count: count.json vs bare page (req/s)", app, bare, 0.90)

    def sc_kit(self) -> None:
        result = self.child("kit", flyers=self.args.flyers)
        self.problems += result["problems"]
        status, _, body = fetch(self.app_port, "/kit/appel.pdf")  # cached by this request
        if status != 200 or not body.startswith(b"%PDF-"):
            self.problems.append(f"kit: GET /kit/appel.pdf under gunicorn answered {status}")
        app, bare = self.throughput("kit", "/kit/appel.pdf", "/page")
        self.add_rate("kit (a): cached flyer /kit/appel.pdf vs bare page (req/s)", app, bare, 0.7)
        cold, whole = statistics.median(result["cold"]), result["whole"]
        cold = round(cold, 3)
        self.add("kit (b): cold A5 call flyer, median (s)", cold, None, "≤ 1 s", cold <= 1)
        name = f"kit (c): whole kit, 7-rally day, cold, {result['built']} kits (s)"
        self.add(name, round(whole, 2), None, "≤ 15 s", whole <= 15)

    def settle(
        self, addresses: set[str], k: int, since: float, quiet: float = 0
    ) -> tuple[float | None, int]:
        """Confirms the first k addresses whose mail comes (8 at a time) while waiting for
        every address's mail, giving up after `quiet` (--quiet) s without mail or
        --settle-timeout. Returns when the last address got its mail (None: some never
        did), and the confirmations."""
        a, sink = self.args, self.sink
        quiet = quiet or a.quiet
        futures: list[Any] = []
        seen, mail_done = 0, None
        sink.last = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            while not (mail_done and len(futures) >= k):
                with sink.lock:
                    fresh, seen = sink.firsts[seen:], len(sink.firsts)
                for address, path in fresh:
                    if address in addresses and len(futures) < k:
                        futures.append(pool.submit(fetch, self.app_port, path))
                now = time.monotonic()
                if mail_done is None and all(x in sink.confirm for x in addresses):
                    mail_done = now
                if now - sink.last > quiet or now - since > a.settle_timeout:
                    break
                time.sleep(0.25)
            statuses = [f.result()[0] for f in futures]
        if any(s != 200 for s in statuses):
            self.problems.append(f"confirmation links answered {sorted(set(statuses))}")
        return mail_done, statuses.count(200)

    def counts(self, db0: int, json0: int, done: int) -> tuple[str, bool, float | None]:
        """Until the DB and count.json both show `done` more confirmations (30 s at most)."""
        deadline = time.monotonic() + 30
        while True:
            d_db, d_json = self.confirmed() - db0, self.count_json() - json0
            if d_db == d_json == done or time.monotonic() > deadline:
                exact = d_db == d_json == done
                return f"{d_db} / {d_json}", exact, time.monotonic() if exact else None
            time.sleep(0.5)

    def sc_exact(self) -> None:
        a = self.args
        self.start_workers()
        db0, json0 = self.confirmed(), self.count_json()
        print(f"  exact: {a.exact_signings:,} signings, 1 in 10 an address already used")
        load = self.sign(a.exact_signings, "exact", dup=10)
        ended = time.monotonic()
        addresses = self.addresses("exact")
        self.check("exact signings", load, 303)
        if len(addresses) != load.distinct:
            self.problems.append(f"exact: {len(addresses)} signatures of {load.distinct} addresses")
        k = min(a.exact_confirmations, len(addresses))
        mail_done, done = self.settle(addresses, k, ended)
        shown, exact, counts_done = self.counts(db0, json0, done)
        while time.monotonic() - self.sink.last < 3:  # late mails
            time.sleep(0.5)
        self.stop_workers()
        missing, mails = self.sink.tally(addresses)
        n = f"{len(addresses)} addresses"
        self.add("exact: addresses without a confirmation mail", missing, n, "0", missing == 0)
        # Each accepted signing gets its one answer: the link (again, for a repeat while
        # pending) or « already signed » once confirmed, but for the repeats past an
        # address's allowance (MAX_EMAILS), which the outbox marks skipped. Fewer is a loss,
        # more a double send.
        signed = load.statuses.get(303, 0)
        skipped = self.sql(
            "SELECT count(*) FROM outbox WHERE status = 'skipped' AND subject_key LIKE %s",
            "%bench-exact-%",
        )
        name = f"exact: mails + {skipped} past allowance / accepted signings"
        self.add(name, mails + skipped, signed, "equal", mails + skipped == signed)
        name = "exact: confirmed in DB / count.json, more by"
        self.add(name, shown, f"{done} confirmed", "equal", exact and done == k)
        settled = max(mail_done, counts_done) - ended if mail_done and counts_done else None
        shown = "never" if settled is None else round(settled, 1)
        ok = settled is not None and settled <= 60
        self.add("exact: settled after the last signing (s)", shown, None, "≤ 60 s", ok)

    def sc_faults(self) -> None:
        a = self.args
        if not self.own_redis:
            return
        self.start_workers()
        db0, json0 = self.confirmed(), self.count_json()
        n, down = a.faults_signings, a.redis_down
        spread = 2 * down + 4  # the signings' duration; Redis dies at a quarter of it
        batches = max(1, round(spread * 2))  # wrk runs of n/batches signings, one every 0.5 s
        print(f"  faults: {n} signings over ~{spread:g} s, Redis killed {down:g} s, a worker -9")

        def paced() -> Load:
            loads, t0 = [], time.monotonic()
            for i in range(batches):
                size = n * (i + 1) // batches - n * i // batches
                loads.append(self.sign(size, f"faults{i}", connections=8))
                time.sleep(max(0.0, t0 + (i + 1) * spread / batches - time.monotonic()))
            return Load.merge(loads)

        with ThreadPoolExecutor(1) as pool:
            future, t0 = pool.submit(paced), time.monotonic()
            time.sleep(spread / 4)
            self.redis_proc.kill()
            self.redis_proc.wait()
            time.sleep(max(0.0, t0 + spread / 4 + down - time.monotonic()))
            self.start_redis()
            time.sleep(spread / 10)
            self.workers[0].kill()
            self.workers[0].wait()
            self.workers[0] = self.spawn("worker0-restarted", self.worker_command)
            load = future.result()
        addresses = self.addresses("faults")
        self.check("faults signings", load, 303, len(addresses))
        # A job lost with the killed worker is handed over again when its row's lease ends.
        from campaign.core.outbox import LEASE

        if a.smoke:  # too long to wait for: end the leases taken 2 s ago or more
            self.notes.append("smoke: the faults' outbox leases ended by hand, not waited for")
            self.db.execute(END_LEASES, (LEASE - timedelta(seconds=2),))
        quiet = max(a.quiet, LEASE.total_seconds() + 10)
        _, done = self.settle(addresses, len(addresses), time.monotonic(), 0 if a.smoke else quiet)
        shown, exact, _ = self.counts(db0, json0, done)
        self.stop_workers()
        lost = self.sink.tally(addresses)[0]
        base = f"{len(addresses)} accepted"
        self.add("faults: accepted signings whose mail never came", lost, base, "0 lost", lost == 0)
        name = "faults: confirmed in DB / count.json, more by"
        self.add(name, shown, f"{done} confirmed", "equal", exact)

    def sc_export(self) -> None:
        a = self.args
        print(f"  export: {a.export_rows:,} confirmed signatures inserted", flush=True)
        n, admin = a.export_rows, self.child("export-setup", rows=a.export_rows)["admin"]
        runs: dict[str, list[dict[str, Any]]] = {"bare": [], "csv": [], "xlsx": []}
        out = self.workdir / "export.xlsx"
        for rnd in range(a.export_rounds):
            for mode in list(runs) if rnd % 2 == 0 else list(runs)[::-1]:
                r = self.child("export", mode=mode, admin=admin, out=str(out))
                if mode == "xlsx":
                    try:
                        r["rows"] = xlsx_rows(out)
                    except (zipfile.BadZipFile, KeyError) as exc:
                        self.problems.append(f"export xlsx: not a valid workbook: {exc}")
                    out.unlink(missing_ok=True)
                print(
                    f"  export {mode:<4} {r['wall']:6.2f} s, peak {r['peak']:5.1f} MB", flush=True
                )
                for key, want in (("status", 200), ("x_rows", n), ("rows", n)):
                    if r.get(key, want) != want:
                        self.problems.append(f"export {mode}: {key} {r[key]}, not {want}")
                runs[mode].append(r)
        bare_wall = round(statistics.median(r["wall"] for r in runs["bare"]), 2)
        bare_peak = round(max(r["peak"] for r in runs["bare"]), 1)
        for mode in ("csv", "xlsx"):
            wall, peak = max(r["wall"] for r in runs[mode]), max(r["peak"] for r in runs[mode])
            name = f"export: {mode.upper()}, {a.export_rows:,} rows"
            self.add(f"{name}, slowest run (s)", round(wall, 2), bare_wall, "≤ 15 s", wall <= 15)
            peak = round(peak, 1)
            self.add(f"{name}, process peak (MB)", peak, bare_peak, "< 150 MB", peak < 150)

    def sc_nearest(self) -> None:
        a = self.args
        print(f"  nearest: {a.rallies:,} rallies, {a.queries} searches", flush=True)
        r = self.child("nearest", rallies=a.rallies, queries=a.queries)
        self.problems += r["problems"]
        service, page, bare = (round(r[k], 2) for k in ("service", "page", "bare"))
        name = f"nearest: finder.nearest p50, {r['rallies']:,} rallies (ms)"
        self.add(name, service, bare, "< 5 ms", service < 5)
        self.add("nearest: GET /rassemblements?commune= p50 (ms)", page, bare)

    # ----------------------------------------------------------------- the run

    def run(self) -> int:
        started = datetime.now(UTC)
        try:
            self.setup()
            for name in self.args.scenarios:
                print(f"{name}:", flush=True)
                try:
                    getattr(self, f"sc_{name}")()
                    if name in ("exact", "faults"):
                        # Their rows' vacuum would otherwise run during, and slow, the next.
                        self.db.execute("VACUUM (ANALYZE)")
                        self.db.execute("CHECKPOINT")
                except Exception as exc:  # the others still run; this run is not valid
                    traceback.print_exc()
                    lines = str(exc).strip().splitlines() or [type(exc).__name__]
                    said = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
                    self.problems.append(f"{name} crashed: {said}")
                    self.stop_workers()
        except SetupError:
            print(f"  logs kept in {self.workdir}", file=sys.stderr)
            raise
        finally:
            self.stop_workers()
            for proc in reversed(self.procs):
                self.stop(proc)
            if hasattr(self, "sink"):
                self.sink.controller.stop()
        self.report(started)
        if self.problems:
            print(f"  logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return 1 if self.problems else 0

    def report(self, started: datetime) -> None:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
            return "" if v is None else str(v)

        rows = [COLUMNS]
        rows += [tuple(cell(v) for v in f.values()) for f in self.figures]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        rows.insert(1, tuple("-" * w for w in widths))
        git = ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]
        commit = subprocess.run(git, capture_output=True, text=True).stdout.strip()
        a = self.args
        print(
            f"\ncampaign bench {started:%Y-%m-%d %H:%M} UTC, app {commit or '?'}, "
            f"{os.cpu_count()} CPUs, gunicorn -w {a.workers} sync, wrk -c{a.connections}, "
            f"{a.rounds} x {a.seconds:g} s{', SMOKE: no targets' if a.smoke else ''}"
        )
        for r in rows:
            cells = [
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ]
            print("  " + "  ".join(cells))
        for note in self.notes:
            print(f"  note: {note}")
        if self.problems:
            print("\n!! THIS RUN IS NOT VALID:\n" + "\n".join(f"!!   {p}" for p in self.problems))
        out = a.json or BENCH / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(date=started.isoformat(), commit=commit, cpus=os.cpu_count(), args=vars(a))
        result = {"meta": meta, "figures": self.figures, "notes": self.notes}
        result.update(problems=self.problems, valid=not self.problems)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"\n  results written to {out}")


# --------------------------------------------------------------------------- in-process children


def make_app() -> Any:
    from campaign import create_app

    return create_app()  # from the environment the harness gave: production settings


def child_setup(opts: dict[str, Any]) -> dict[str, Any]:
    """The kit's content: three approved members, a day in three weeks with 7 rallies."""
    from campaign.content.services import current_collective
    from campaign.extensions import db
    from campaign.rallies.models import today
    from tests.factories import make_day, make_member, make_rally

    with make_app().app_context():
        collective = current_collective()
        members = [make_member(collective, name) for name in MEMBERS]
        day = make_day(collective, when=today() + timedelta(days=21), title="Journée nationale")
        for i, insee in enumerate(KIT_CITIES):
            make_rally(day, insee, organisations=members[i % 3 : i % 3 + 1 + i % 2])
        db.session.commit()
    return {}


def child_kit(opts: dict[str, Any]) -> dict[str, Any]:
    """(b) GET /kit/appel.pdf on an empty cache, the process's first render left out;
    (c) services.prebuild() (what `flask kits build` runs) on an empty cache."""
    from campaign.content.services import current_collective
    from campaign.extensions import db
    from campaign.kits import cache, services

    app, problems, cold = make_app(), [], []
    with app.app_context():
        folder = cache.folder()
    for i in range(opts["flyers"] + 1):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        response = app.test_client().get("/kit/appel.pdf")
        if response.status_code != 200 or not response.get_data().startswith(b"%PDF-"):
            problems.append(f"kit: cold GET /kit/appel.pdf answered {response.status}")
        cold += [time.perf_counter() - started] if i else []
    shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with app.app_context():
        kits = (services.kit_members(), services.kit_days(), services.kit_rallies())
        started = time.perf_counter()
        built = services.prebuild(current_collective())  # type: ignore[arg-type]
        whole = time.perf_counter() - started
        db.session.remove()
    if built != 1 + sum(map(len, kits)):
        problems.append(f"kit: prebuild built {built} kits, not {1 + sum(map(len, kits))}")
    return {"cold": cold, "whole": whole, "built": built, "problems": problems}


EXPORT_SQL = """
INSERT INTO signatures (petition_id, first_name, last_name, email, email_canonical, country,
    postcode, departement, consent_version, optin_collective, source, organisation_id,
    token_nonce, token_hash, token_expires_at, created_at, confirmed_at, emails_sent)
SELECT %(petition)s, f, l, e, e, CASE WHEN abroad THEN 'BE' ELSE 'FR' END,
    CASE WHEN NOT abroad THEN '75011' END, CASE WHEN NOT abroad THEN '75' END, '2026-09',
    mod(i, 5) < 2, (ARRAY['qr-flyer-lyon', 'presse', 'newsletter', NULL, NULL])[1 + mod(i, 5)],
    CASE WHEN mod(i, 10) < 3 THEN (%(orgs)s::int[])[1 + mod(i, 40)] END,
    lpad(to_hex(i), 32, '0'), lpad(to_hex(i), 64, '0'), t + interval '30 days', t,
    CASE WHEN mod(i, 20) <> 0 THEN t + (mod(i::bigint * 7919, 600) + 1) * interval '1 minute' END, 1
FROM (SELECT i, now() - interval '92 days' + i * %(step)s * interval '1 second' AS t,
             mod(i, 33) = 0 AS abroad,
             (ARRAY['Camille', 'Léa', 'Chloé', 'Inès', 'Anaïs', 'Élodie', 'Maëlle', 'Hugo',
                    'Théo', 'Raphaël', 'Noé', 'Jean-Pierre', 'Marie-Thérèse'])[1 + mod(i, 13)] AS f,
             (ARRAY['Martin', 'Dubois', 'Lefèvre', 'N''Diaye', 'Da Silva', 'Le Gall',
                    'd''Arcy', 'Ménard', 'Besançon'])[1 + mod(i / 13, 9)] AS l
      FROM generate_series(1, %(total)s) AS i) AS s,
     LATERAL (SELECT translate(lower(f || '.' || l || '.' || i), ' ''', '') || '@example.org'
              AS e) AS address
"""


def child_export_setup(opts: dict[str, Any]) -> dict[str, Any]:
    """A petition, 40 members (one named with an « & »), an admin; `rows` confirmed
    signatures (one in twenty more, pending) with French names, 3 % from abroad."""
    import psycopg

    from campaign.console import auth
    from campaign.console.models import Role
    from campaign.extensions import db
    from tests.factories import make_collective, make_member, make_petition

    with make_app().app_context():
        collective = make_collective("Collectif de l’export")
        petition = make_petition(collective, slug=EXPORT_SLUG)
        names = ["Parents & Enfants d’abord" if i == 7 else "Membre" for i in range(40)]
        orgs = [make_member(collective, name).id for name in names]
        admin, _ = auth.invite("admin@example.org", "Admin du banc", Role.ADMIN)
        admin.invite_nonce = None
        db.session.commit()
        params = {"petition": petition.id, "orgs": orgs, "admin": admin.id}
    total = opts["rows"] + (opts["rows"] - 1) // 19  # every 20th pending: `rows` confirmed
    params.update(total=total, step=90 * 86400 / total)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(EXPORT_SQL, params)
        conn.execute("VACUUM ANALYZE signatures")  # as autovacuum would have
    return {"admin": params["admin"]}


def _mb(name: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{name}:\s+(\d+)", status, re.M).group(1)) / 1024


def child_export(opts: dict[str, Any]) -> dict[str, Any]:
    """One export in this fresh process: the console's CSV or XLSX as a signed-in admin
    through the test client, read by chunks; or `bare`: the app's SELECT word for word
    through a psycopg server-side cursor into a csv.writer on /dev/null. Peak: VmHWM."""
    import psycopg

    if opts["mode"] == "bare":
        from sqlalchemy.dialects import postgresql

        from campaign.console.exports import signatories_query
        from campaign.core.db import utcnow

        conn = psycopg.connect(os.environ["DATABASE_URL"])
        pid = conn.execute("SELECT id FROM petitions WHERE slug = %s", (EXPORT_SLUG,)).fetchone()
        query = signatories_query(pid[0], utcnow(), "postgresql")  # type: ignore[index]
        literal = {"literal_binds": True}  # the SQL the app sends, word for word
        text = str(query.compile(dialect=postgresql.dialect(), compile_kwargs=literal))
        before, started = _mb("VmRSS"), time.perf_counter()
        with conn.cursor(name="bare") as cursor, open(os.devnull, "w", newline="") as out:
            cursor.itersize = 1000
            cursor.execute(text)  # type: ignore[call-overload]
            csv.writer(out, delimiter=";").writerows(cursor)
        wall = time.perf_counter() - started
        rows = conn.execute(f"SELECT count(*) FROM ({text}) AS q").fetchone()[0]  # type: ignore[index]  # noqa: S608
        return {"rows": rows, "wall": wall, "peak": _mb("VmHWM"), "rss_before": before}

    from flask import session

    from campaign.console import auth
    from campaign.console.models import Organiser
    from campaign.extensions import db

    app = make_app()
    client = app.test_client()
    with app.test_request_context():
        auth.sign_in(db.session.get(Organiser, opts["admin"]), "127.0.0.1")  # type: ignore[arg-type]
        db.session.commit()
        signed_in = dict(session)
    with client.session_transaction() as s:
        s.update(signed_in)
    if client.get("/console/exports").status_code != 200:  # the first request: not measured
        raise RuntimeError("GET /console/exports did not answer 200 to the admin")
    before, started = _mb("VmRSS"), time.perf_counter()
    path = f"/console/exports/{EXPORT_SLUG}/signataires.{opts['mode']}"
    response = client.get(path, buffered=False)
    size = lines = 0
    with open(opts["out"] if opts["mode"] == "xlsx" else os.devnull, "wb") as out:
        for chunk in response.response:
            size, lines = size + len(chunk), lines + chunk.count(b"\n")
            out.write(chunk)
    response.close()
    wall, rows = time.perf_counter() - started, lines - 1 if opts["mode"] == "csv" else None
    result = dict(status=response.status_code, x_rows=int(response.headers.get("X-Rows", -1)))
    return dict(result, rows=rows, bytes=size, wall=wall, rss_before=before, peak=_mb("VmHWM"))


def child_nearest(opts: dict[str, Any]) -> dict[str, Any]:
    """`rallies` published rallies in communes drawn from the gazetteer, on 12 days (half
    past), a third off the commune's centre, 1-2 organisers each; the finder checked against
    a brute-force search; then for `queries` communes (after 50 untimed): finder.nearest,
    its page through the test client, and a bare Flask app doing one SELECT by key through
    psycopg (the floor). Medians in ms."""
    import random

    import psycopg
    from flask import Flask
    from sqlalchemy import insert, select, text

    from campaign.extensions import db
    from campaign.places import gazetteer
    from campaign.rallies import finder
    from campaign.rallies.models import Rally, rally_organisations, today
    from tests.factories import make_collective, make_day, make_member, make_rally

    app, rng, problems = make_app(), random.Random(20261123), []
    communes = [c for c in gazetteer.gazetteer().by_insee.values() if not c.parent]
    with app.app_context():
        collective = make_collective("Collectif du banc d’essai")
        offsets = (-120, -90, -60, -30, -14, -7, 7, 14, 30, 60, 90, 120)
        days = [make_day(collective, when=today() + timedelta(days=d)) for d in offsets]
        members = [make_member(collective, "Organisation") for _ in range(40)]
        model = make_rally(days[0])  # the other rallies are copies of its row
        table = Rally.__table__
        row = db.session.execute(select(table).where(table.c.id == model.id)).mappings().one()
        template = {k: v for k, v in row.items() if k != "id"}
        rows = []
        for i, c in enumerate(rng.choices(communes, k=opts["rallies"] - 1)):
            off, day = (0.01 if i % 3 == 0 else 0.0), days[i % len(days)]
            place = {"city": c.name, "commune_insee": c.insee, "departement": c.departement}
            lat, lon = c.lat + rng.uniform(-off, off), c.lon + rng.uniform(-off, off)
            place.update(latitude=lat, longitude=lon, day_id=day.id, date=day.date)
            rows.append({**template, **place})
        db.session.execute(insert(table), rows)
        query = select(Rally.id).where(Rally.day_id.in_([d.id for d in days]))
        ids = db.session.execute(query).scalars().all()
        links = {(r, members[j].id) for r in ids for j in rng.sample(range(40), rng.choice((1, 2)))}
        rows = [{"rally_id": r, "organisation_id": o} for r, o in links]
        db.session.execute(insert(rally_organisations), rows)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        everything = db.session.execute(select(Rally.latitude, Rally.longitude, Rally.date)).all()
        searched = rng.choices(communes, k=opts["queries"] + 50)
        for commune in searched[50:150]:  # checked against every rally sorted by distance
            place = finder.commune_place(commune)
            results = finder.nearest(place, today())
            for hits, upcoming, limit in ((results.upcoming, True, 10), (results.past, False, 5)):
                found = [hit.km for hit in hits]
                expected = sorted(
                    gazetteer.distance_km(place.lat, place.lon, lat, lon)
                    for lat, lon, when in everything
                    if (when >= today()) == upcoming
                )[:limit]
                if len(found) != len(expected) or any(
                    abs(x - y) > 1e-6 for x, y in zip(found, expected, strict=True)
                ):
                    problems.append(f"nearest {commune.insee}: {found[:3]}, not {expected[:3]}")
            db.session.remove()
    conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    bare = Flask("bare")
    select_one = "SELECT city, latitude, longitude FROM rallies WHERE id = %s"
    bare.get("/bare/<int:rid>")(lambda rid: str(conn.execute(select_one, (rid,)).fetchone()))
    client, bare_client = app.test_client(), bare.test_client()
    times: dict[str, list[float]] = {"service": [], "page": [], "bare": []}
    for i, commune in enumerate(searched):
        for key in times:
            started = time.perf_counter()
            if key == "service":
                with app.app_context():
                    finder.nearest(finder.commune_place(commune), today())
                    db.session.remove()  # as at the end of a request
                status = 200
            elif key == "page":
                status = client.get(f"/rassemblements?commune={commune.insee}").status_code
            else:
                status = bare_client.get(f"/bare/{ids[i % len(ids)]}").status_code
            if i >= 50:
                times[key].append((time.perf_counter() - started) * 1000)
            if status != 200:
                problems.append(f"nearest: {key} for {commune.insee} answered {status}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"rallies": len(everything), "problems": problems, **medians}


CHILDREN = {
    "setup": child_setup,
    "kit": child_kit,
    "export-setup": child_export_setup,
    "export": child_export,
    "nearest": child_nearest,
}


def main(argv: list[str] | None = None) -> int:
    try:
        import aiosmtpd  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError:
        venv = ROOT / ".venv" / "bin" / "python"
        if venv.exists() and Path(sys.prefix).resolve() != venv.parents[1].resolve():
            os.execv(venv, [str(venv), __file__, *sys.argv[1:]])  # noqa: S606
        print("run it with the project's venv (make install-test)", file=sys.stderr)
        return 2
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.path[:0] = [str(ROOT), str(BENCH)]  # tests.factories, bare_app
    if args.child:
        import itertools

        import tests.factories  # its slugs and codes count from 1 in every process: not twice

        tests.factories._seq = itertools.count(1000 * (1 + list(CHILDREN).index(args.child)))
        print(json.dumps(CHILDREN[args.child](json.loads(args.child_opts))))
        return 0
    try:
        return Bench(args).run()
    except SetupError as exc:
        print(f"\nbench/harness.py: cannot run the benchmark:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
