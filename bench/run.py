"""First benchmark: the real app on PostgreSQL behind gunicorn, against a bare Flask app.

Run by hand, not in CI (see bench/README.md):

    .venv/bin/python bench/run.py            # about 4 minutes with the defaults

Four targets, all driven by wrk with bench/load.lua at the same concurrency:

    sign   POST /petitions/<slug>   the real signing: CSRF, validation, dedupe, queued mail
    insert POST /insert             bare Flask: one raw INSERT through psycopg (bare_app.py)
    page   GET  /petitions/<slug>   the real petition page
    bare   GET  /page               bare Flask: the same bytes, served as a constant

Both apps run under gunicorn with the same settings, on their own ports; the targets
are measured one at a time, real and bare alternating (the order flips every round).
The report gives requests/s, p50 and p95 latency and errors per target, then the two
ratios sign/insert and page/bare against the targets 0.70 and 0.80.

Exit status: 0 when the run is valid, whatever the ratios (it is a report); 1 when the
run is not valid (a signing POST did not answer 303, or the rows in the database do not
match the responses counted); 2 when it could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common import SetupError, ensure_venv  # bench/ is on sys.path: scripts run from it

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LOAD_SCRIPT = BENCH_DIR / "load.lua"
RESULTS_DIR = BENCH_DIR / "results"

TARGET_SIGN = 0.70
TARGET_PAGE = 0.80

# Settings the app reads from the environment that this run fixes or leaves at default,
# so that a developer's shell does not change what is measured.
APP_ENV_VARS = (
    "DATABASE_URL",
    "TEST_DATABASE_URL",
    "SECRET_KEY",
    "CAMPAIGN_ENV",
    "PUBLIC_URL",
    "REDIS_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_DEFAULT_SENDER",
    "QUEUE_DB_PATH",
    "PROXY_COUNT",
    "SIGN_RATE_LIMIT",
    "RATELIMIT_ENABLED",
    "RATELIMIT_STORAGE_URI",
    "CONFIRMATION_TTL_HOURS",
    "COUNT_CACHE_SECONDS",
    "PAGE_CACHE_SECONDS",
    "PURGE_UNCONFIRMED_DAYS",
    "INSTANCE_PATH",
)
APP_ENV_PREFIXES = ("MAIL_", "RATELIMIT_", "WTF_", "SQLALCHEMY_", "FLASK_")


class InvalidRun(RuntimeError):
    """The signing stopped answering 303: what is measured is not the signing (exit 1)."""


def print_invalid(problems: list[str]) -> None:
    print()
    print("!" * 78)
    print("!! THIS RUN IS NOT VALID:")
    for problem in problems:
        print(f"!!   {problem}")
    print("!" * 78)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(
            "Benchmark the real signing POST and petition page against a bare Flask app "
            "(one raw INSERT, one constant page) on PostgreSQL behind gunicorn, and print "
            "the ratios sign/insert (target >= 0.70) and page/bare (target >= 0.80)."
        ),
        epilog="Needs wrk (apt-get install -y wrk), PostgreSQL and Redis. See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--seconds", type=float, default=10.0, help="measure window of each run")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each measures all 4 targets")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per target")
    p.add_argument("--grace", type=float, default=3.0, help="extra wrk time for in-flight requests")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (concurrency)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers (both apps)")
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class (both apps)")
    p.add_argument("--real-port", type=int, default=8101)
    p.add_argument("--bare-port", type=int, default=8102)
    p.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/",
        help="PostgreSQL server URL (a role allowed to create databases)",
    )
    p.add_argument("--database", default="campaign_bench", help="dropped and recreated")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/15", help="flushed at start/end")
    p.add_argument("--slug", default="quatre-urgences", help="demo petition to sign")
    p.add_argument("--json", type=Path, help="write results here (default bench/results/)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- processes


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As gunicorn does: connections of the previous run in TIME_WAIT don't count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_http(port: int, path: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"gunicorn on port {port} exited:\n{_tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SetupError(f"gunicorn on port {port} did not answer in 30 s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [self.proc.pid, *map(int, children.read_text().split())]
        except OSError:
            return [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gunicorn(
    name: str,
    app_spec: str,
    port: int,
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    cwd: Path,
    ready_path: str,
) -> Server:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log = workdir / f"gunicorn-{name}.log"
    cmd = [
        str(gunicorn),
        app_spec,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        # Two masters (and any other gunicorn on the machine) would fight over the
        # default control socket in ~/.gunicorn.
        "--no-control-socket",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, port, proc, log)
    try:
        _wait_http(port, ready_path, proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def run_checked(cmd: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SetupError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


# --------------------------------------------------------------------------- HTTP checks


@dataclass
class Session:
    cookie: str  # "session=..."
    csrf: str
    page: bytes


def fetch_petition(port: int, slug: str) -> Session:
    """One GET of the petition page, as a first-time visitor: the session cookie and the
    CSRF token it holds (valid for hours), and the page's bytes for the bare app."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/petitions/{slug}")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise SetupError(f"GET /petitions/{slug} answered {resp.status}:\n{body[:500]!r}")
    cookie = None
    for header, value in resp.getheaders():
        if header.lower() == "set-cookie" and value.startswith("session="):
            cookie = value.split(";", 1)[0]
    field = re.search(rb'<input[^>]*\bname="csrf_token"[^>]*>', body)
    token = re.search(rb'\bvalue="([^"]+)"', field.group(0)) if field else None
    if not cookie:
        raise SetupError("the petition page set no session cookie (it holds the CSRF token)")
    if not token:
        raise SetupError("the petition page has no csrf_token field with a value")
    return Session(cookie=cookie, csrf=token.group(1).decode(), page=body)


def sign_once(port: int, slug: str, session: Session, email: str) -> tuple[int, str, bytes]:
    body = urlencode(
        {
            "csrf_token": session.csrf,
            "first_name": "Jeanne",
            "last_name": "Martin",
            "email": email,
            "country": "FR",
            "postcode": "75011",
            "consent": "y",
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        f"/petitions/{slug}",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": session.cookie},
    )
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("Location") or "", data


def request_once(port: int, method: str, path: str, body: str = "") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=body or None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


# --------------------------------------------------------------------------- wrk runs


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    method: str
    path: str
    expected: int  # the only status that counts as success
    real: bool


@dataclass
class RunResult:
    target: str
    round: int  # -1 for the warm-up
    responses: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0
    window: float = 0.0
    quantiles: list[int] = field(default_factory=list)  # 200 latency quantiles, µs
    latency_max: int = 0
    other_cpu: float = 0.0  # share of the machine's CPU used by processes not in the bench
    app_cpu_ms: float = 0.0  # CPU of the app's gunicorn processes per response
    db_cpu_ms: float = 0.0  # CPU of the PostgreSQL backends per response
    wrk_cpu_ms: float = 0.0  # CPU of wrk per response

    def ok(self, expected: int) -> int:
        return self.statuses.get(expected, 0)

    def errors(self, expected: int) -> int:
        return self.responses - self.ok(expected) + self.socket_errors

    @property
    def rps(self) -> float:
        return self.responses / self.window if self.window else 0.0


def parse_wrk(output: str, result: RunResult) -> None:
    for line in output.splitlines():
        if not line.startswith("BENCH "):
            continue
        parts = line.split()
        kind = parts[1]
        if kind == "responses":
            result.responses = int(parts[2])
        elif kind == "status":
            result.statuses[int(parts[2])] = int(parts[3])
        elif kind == "socket_errors":
            result.socket_errors = sum(int(x) for x in parts[2:])
        elif kind == "window":
            result.window = float(parts[2])
        elif kind == "quantile":
            result.quantiles.append(int(parts[2]))
        elif kind == "latency_max":
            result.latency_max = int(parts[2])
    if not result.window:
        raise SetupError(f"could not read wrk's output:\n{output[-2000:]}")


def _cpu_busy_jiffies() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def _pid_jiffies(pids: list[int]) -> dict[int, int]:
    """utime + stime of each process still alive, in clock ticks."""
    ticks = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        ticks[pid] = int(rest[11]) + int(rest[12])
    return ticks


def _delta(before: dict[int, int], after: dict[int, int]) -> int:
    # A process that appeared during the run (a new database connection) counts whole.
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def _bench_backend_pids(admin_url: str, database: str) -> list[int]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    return [r[0] for r in rows]


@dataclass
class Pids:
    """The processes that serve the bench, to tell their CPU from other processes'."""

    app: list[int]  # the measured app's gunicorn master and workers
    servers: list[int]  # both apps' gunicorn processes
    db: list[int]  # PostgreSQL backends connected to the bench database


def run_wrk(
    target: Target,
    port: int,
    seconds: float,
    round_no: int,
    args: argparse.Namespace,
    session: Session,
    pids: Callable[[], Pids],
    run_tag: str,
) -> RunResult:
    env = dict(os.environ)
    env.update(
        BENCH_METHOD=target.method,
        BENCH_PATH=target.path,
        BENCH_SECONDS=str(seconds),
        BENCH_RUN=run_tag,
        BENCH_COOKIE=session.cookie,
        BENCH_CSRF=session.csrf,
    )
    duration = max(1, round(seconds + args.grace))
    cmd = [
        "wrk",
        "--threads",
        str(args.wrk_threads),
        "--connections",
        str(args.connections),
        "--duration",
        f"{duration}s",
        "--timeout",
        "30s",
        "--script",
        str(LOAD_SCRIPT),
        f"http://127.0.0.1:{port}",
    ]
    hz = os.sysconf("SC_CLK_TCK")
    p0 = pids()
    busy0 = _cpu_busy_jiffies()
    app0, servers0, db0 = _pid_jiffies(p0.app), _pid_jiffies(p0.servers), _pid_jiffies(p0.db)
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - t0
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p1 = pids()
    busy1 = _cpu_busy_jiffies()
    app1, servers1 = _pid_jiffies(p1.app), _pid_jiffies(p1.servers)
    db1 = _pid_jiffies(sorted(set(p0.db) | set(p1.db)))
    if proc.returncode != 0:
        raise SetupError(f"wrk failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    result = RunResult(target=target.key, round=round_no)
    parse_wrk(proc.stdout, result)
    wrk_cpu = (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)
    app_s = _delta(app0, app1) / hz
    db_s = _delta(db0, db1) / hz
    other = (busy1 - busy0) / hz - _delta(servers0, servers1) / hz - db_s - wrk_cpu
    result.other_cpu = max(other, 0.0) / (elapsed * (os.cpu_count() or 1))
    if result.responses:
        result.app_cpu_ms = 1000 * app_s / result.responses
        result.db_cpu_ms = 1000 * db_s / result.responses
        result.wrk_cpu_ms = 1000 * wrk_cpu / result.responses
    return result


# --------------------------------------------------------------------------- report


def merged_quantile(runs: list[RunResult], q: float) -> float:
    """Quantile of the union of several runs, each weighted by its response count."""
    samples: list[tuple[int, float]] = []
    for r in runs:
        if r.quantiles:
            w = r.responses / len(r.quantiles)
            samples.extend((v, w) for v in r.quantiles)
    if not samples:
        return 0.0
    samples.sort()
    total = sum(w for _, w in samples)
    acc = 0.0
    for value, w in samples:
        acc += w
        if acc >= q * total:
            return value / 1000.0
    return samples[-1][0] / 1000.0


@dataclass
class Summary:
    target: Target
    runs: list[RunResult]

    @property
    def responses(self) -> int:
        return sum(r.responses for r in self.runs)

    @property
    def rps(self) -> float:
        window = sum(r.window for r in self.runs)
        return self.responses / window if window else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors(self.target.expected) for r in self.runs)

    def cpu_ms(self, attr: str) -> float:
        """CPU milliseconds per response, over all rounds."""
        n = self.responses
        return sum(getattr(r, attr) * r.responses for r in self.runs) / n if n else 0.0

    def total_cpu_ms(self) -> float:
        return self.cpu_ms("app_cpu_ms") + self.cpu_ms("db_cpu_ms") + self.cpu_ms("wrk_cpu_ms")

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.target.label,
            "method": self.target.method,
            "path": self.target.path,
            "expected_status": self.target.expected,
            "responses": self.responses,
            "requests_per_second": round(self.rps, 1),
            "p50_ms": merged_quantile(self.runs, 0.50),
            "p95_ms": merged_quantile(self.runs, 0.95),
            "errors": self.errors,
            "app_cpu_ms_per_request": round(self.cpu_ms("app_cpu_ms"), 3),
            "db_cpu_ms_per_request": round(self.cpu_ms("db_cpu_ms"), 3),
            "wrk_cpu_ms_per_request": round(self.cpu_ms("wrk_cpu_ms"), 3),
            "per_round_rps": [round(r.rps, 1) for r in self.runs],
            "other_cpu_per_round": [round(r.other_cpu, 3) for r in self.runs],
        }


def cpu_ratio(real: Summary, bare: Summary) -> float:
    """bare/real CPU per request (app + database + wrk): what the throughput ratio would be
    if the machine were CPU-bound and used by nothing else."""
    real_cpu = real.total_cpu_ms()
    return bare.total_cpu_ms() / real_cpu if real_cpu else 0.0


def ratio_line(name: str, real: Summary, bare: Summary, target: float) -> tuple[str, float]:
    ratio = real.rps / bare.rps if bare.rps else 0.0
    per_round = [a.rps / b.rps for a, b in zip(real.runs, bare.runs, strict=True) if b.rps]
    spread = f"rounds {min(per_round):.3f}-{max(per_round):.3f}" if per_round else ""
    verdict = "meets" if ratio >= target else "BELOW"
    if real.errors or bare.errors:
        verdict = "ERRORS"  # a ratio of failed requests means nothing
    return (
        f"  {name:<28} {ratio:6.3f}  target {target:.2f}  {verdict:<6} ({spread}; "
        f"from CPU per request {cpu_ratio(real, bare):.3f})",
        ratio,
    )


def print_report(summaries: dict[str, Summary], meta: dict[str, Any]) -> tuple[float, float]:
    print()
    print(
        f"campaign bench  {meta['date']}  {meta['cpus']} CPUs  gunicorn -w {meta['workers']} "
        f"-k {meta['worker_class']}  wrk -t{meta['wrk_threads']} -c{meta['connections']}  "
        f"{meta['rounds']} x {meta['seconds']:g} s per target"
    )
    print(f"app: {meta['app_version']}   page: {meta['page_bytes']} bytes")
    print()
    header = (
        f"  {'target':<38} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}"
        f"  {'app CPU':>8} {'db CPU':>7}  req/s per round"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for s in summaries.values():
        d = s.as_dict()
        rounds = " ".join(f"{x:.0f}" for x in d["per_round_rps"])
        print(
            f"  {s.target.label:<38} {d['requests_per_second']:8.1f} {d['p50_ms']:8.1f} "
            f"{d['p95_ms']:8.1f} {d['errors']:7d}  {d['app_cpu_ms_per_request']:5.2f} ms "
            f"{d['db_cpu_ms_per_request']:4.2f} ms  {rounds}"
        )
    print()
    sign_text, sign_ratio = ratio_line(
        "signing / bare insert", summaries["sign"], summaries["insert"], TARGET_SIGN
    )
    page_text, page_ratio = ratio_line(
        "petition page / bare page", summaries["page"], summaries["bare"], TARGET_PAGE
    )
    print(sign_text)
    print(page_text)
    other = [r.other_cpu for s in summaries.values() for r in s.runs]
    if other and max(other) > 0.10:
        print()
        print(
            f"  note: other processes used up to {max(other):.0%} of the machine's CPU during "
            "some runs; the per-round figures show how much that moved the results."
        )
    return sign_ratio, page_ratio


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ensure_venv(__file__, "psycopg", "redis")
        return bench(args)
    except SetupError as exc:
        print(f"\nbench/run.py: cannot run the benchmark:\n{exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    import psycopg
    import redis
    from huey import RedisHuey
    from psycopg import sql

    if shutil.which("wrk") is None:
        raise SetupError("wrk is not installed: apt-get install -y wrk")
    for port in (args.real_port, args.bare_port):
        if not _port_free(port):
            raise SetupError(f"port {port} is in use (use --real-port / --bare-port)")
    admin_url = args.postgres
    db_url = admin_url.rstrip("/") + "/" + args.database
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.database):
        raise SetupError(f"unexpected database name {args.database!r}")

    app_version = _git_state()  # before the servers start: they import the app as it is now
    load_before = os.getloadavg()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: the machine is already busy (load average {load_before[0]:.2f}); "
            "the figures will be noisier",
            file=sys.stderr,
        )

    # Fresh database and queue.
    queue = redis.Redis.from_url(args.redis)
    try:
        queue.flushdb()
    except redis.RedisError as exc:
        raise SetupError(f"Redis at {args.redis}: {exc}") from exc
    try:
        with psycopg.connect(admin_url + "postgres", autocommit=True) as conn:
            name = sql.Identifier(args.database)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
            server_version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        raise SetupError(f"PostgreSQL at {admin_url}: {exc}") from exc

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in APP_ENV_VARS and not k.startswith(APP_ENV_PREFIXES)
    }
    env.update(
        FLASK_APP="wsgi.py",
        DATABASE_URL=db_url,
        SECRET_KEY=secrets.token_hex(32),
        CAMPAIGN_ENV="production",
        REDIS_URL=args.redis,
        RATELIMIT_ENABLED="0",
        PUBLIC_URL=f"http://127.0.0.1:{args.real_port}",
        # Production refuses to start without a mail server. No queue worker runs, so
        # nothing is ever sent to it: the jobs stay in Redis.
        MAIL_SERVER="127.0.0.1",
    )
    flask = str(Path(sys.executable).parent / "flask")
    print(f"database {args.database}: migrating and loading the demo content")
    run_checked([flask, "db", "upgrade"], env, "flask db upgrade")
    run_checked([flask, "seed-demo"], env, "flask seed-demo")
    sys.path.insert(0, str(BENCH_DIR))
    import bare_app

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(bare_app.TABLE_DDL)

    workdir = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    servers: list[Server] = []
    exit_code = 0
    try:
        slug_path = f"/petitions/{args.slug}"
        real = start_gunicorn(
            "real", "wsgi:app", args.real_port, args, env, workdir, ROOT, slug_path
        )
        servers.append(real)

        # One GET as a first-time visitor: session cookie, CSRF token, the page's bytes.
        session = fetch_petition(args.real_port, args.slug)
        page_file = workdir / "petition-page.html"
        page_file.write_bytes(session.page)
        status, location, body = sign_once(
            args.real_port, args.slug, session, "bench-preflight@example.org"
        )
        if status != 303 or not location.endswith(f"{slug_path}/merci"):
            raise SetupError(
                f"the signing POST answered {status} (Location {location!r}), not 303 to "
                f"{slug_path}/merci. A CSRF failure shows as 400. The page said:\n"
                f"{body[:1500].decode(errors='replace')}"
            )

        bare_env = dict(env, BENCH_DATABASE_URL=db_url, BENCH_PAGE_FILE=str(page_file))
        bare = start_gunicorn(
            "bare", "bare_app:app", args.bare_port, args, bare_env, workdir, BENCH_DIR, "/page"
        )
        servers.append(bare)
        status, data = request_once(args.bare_port, "GET", "/page")
        if status != 200 or data != session.page:
            raise SetupError(f"bare GET /page answered {status} with {len(data)} bytes")
        status, _ = request_once(
            args.bare_port, "POST", "/insert", "email=bench-preflight%40example.org"
        )
        if status != 303:
            raise SetupError(f"bare POST /insert answered {status}, not 303")

        targets = {
            "sign": Target("sign", "signing  POST /petitions/<slug>", "POST", slug_path, 303, True),
            "insert": Target("insert", "bare insert  POST /insert", "POST", "/insert", 303, False),
            "page": Target(
                "page", "petition page  GET /petitions/<slug>", "GET", slug_path, 200, True
            ),
            "bare": Target("bare", "bare page  GET /page", "GET", "/page", 200, False),
        }
        pairs = [("sign", "insert"), ("page", "bare")]
        print(
            f"page: {len(session.page)} bytes; real app on :{args.real_port}, bare app on "
            f":{args.bare_port}; gunicorn -w {args.workers} -k {args.worker_class}; "
            f"wrk -t{args.wrk_threads} -c{args.connections}"
        )

        def measure(key: str, seconds: float, round_no: int) -> RunResult:
            target = targets[key]
            server = real if target.real else bare
            tag = f"r{round_no + 1}{key}" if round_no >= 0 else f"w{key}"

            def pids() -> Pids:
                return Pids(
                    app=server.worker_pids(),
                    servers=[p for s in servers for p in s.worker_pids()],
                    db=_bench_backend_pids(admin_url + "postgres", args.database),
                )

            result = run_wrk(target, server.port, seconds, round_no, args, session, pids, tag)
            phase = "warm-up" if round_no < 0 else f"round {round_no + 1}"
            print(
                f"  {phase:<8} {key:<7} {result.rps:8.1f} req/s  "
                f"{result.errors(target.expected):4d} errors  "
                f"CPU/req app {result.app_cpu_ms:5.2f} ms db {result.db_cpu_ms:5.2f} ms  "
                f"other CPU {result.other_cpu:4.0%}"
            )
            return result

        def checked(key: str, seconds: float, round_no: int) -> RunResult:
            result = measure(key, seconds, round_no)
            bad = {s: n for s, n in result.statuses.items() if s != 303}
            if key == "sign" and bad:
                raise InvalidRun(
                    f"signing POSTs answered {bad} instead of 303 (400: CSRF refused; "
                    "422: form refused; 429: rate limit)"
                )
            return result

        all_runs: list[RunResult] = []
        try:
            if args.warmup > 0:
                print(f"warming up ({args.warmup:g} s per target)")
                for key in targets:
                    all_runs.append(checked(key, args.warmup, -1))
            print(f"measuring: {args.rounds} rounds of {args.seconds:g} s per target")
            for round_no in range(args.rounds):
                for real_key, bare_key in pairs:
                    order = (real_key, bare_key) if round_no % 2 == 0 else (bare_key, real_key)
                    for key in order:
                        all_runs.append(checked(key, args.seconds, round_no))
        except InvalidRun as exc:
            print_invalid([str(exc)])
            return 1
        load_after = os.getloadavg()

        measured = [r for r in all_runs if r.round >= 0]
        summaries = {
            key: Summary(t, [r for r in measured if r.target == key]) for key, t in targets.items()
        }

        # Validity: every signing answered 303, and each 303 is exactly one row.
        def ok_total(key: str) -> int:
            return sum(r.ok(targets[key].expected) for r in all_runs if r.target == key)

        bad_sign = {
            s: n for r in all_runs if r.target == "sign" for s, n in r.statuses.items() if s != 303
        }
        with psycopg.connect(db_url, autocommit=True) as conn:
            signature_rows = conn.execute("SELECT count(*) FROM signatures").fetchone()[0]
            bare_rows = conn.execute("SELECT count(*) FROM bench_bare_signatures").fetchone()[0]
        queued_mail = RedisHuey("campaign", url=args.redis).pending_count()
        expected_signatures = ok_total("sign") + 1  # + the preflight signing
        expected_bare = ok_total("insert") + 1
        checks = {
            "signing_non_303": bad_sign,
            "signature_rows": signature_rows,
            "signing_303_responses": expected_signatures,
            "bare_rows": bare_rows,
            "bare_303_responses": expected_bare,
            "queued_mail": queued_mail,
        }

        meta = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "app_version": app_version,
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "postgresql": server_version,
            "wrk": _wrk_version(),
            "workers": args.workers,
            "worker_class": args.worker_class,
            "wrk_threads": args.wrk_threads,
            "connections": args.connections,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "page_bytes": len(session.page),
            "load_average_before": load_before,
            "load_average_after": load_after,
        }
        sign_ratio, page_ratio = print_report(summaries, meta)

        print()
        print(
            f"  checks: {signature_rows} signature rows for {expected_signatures} signing 303s; "
            f"{bare_rows} bare rows for {expected_bare} bare 303s; "
            f"{queued_mail} mail jobs queued (no queue worker runs: they accumulate)"
        )
        problems = []
        if bad_sign:
            problems.append(f"signing POSTs answered other statuses than 303: {bad_sign}")
        if signature_rows != expected_signatures:
            problems.append(
                f"{signature_rows} Signature rows but {expected_signatures} signing 303s"
            )
        if bare_rows != expected_bare:
            problems.append(f"{bare_rows} bare rows but {expected_bare} bare 303s")
        if queued_mail != expected_signatures:
            # One job per accepted signing (the worker decides what to send).
            problems.append(f"{queued_mail} queued jobs for {expected_signatures} signings")
        if problems:
            exit_code = 1
            print_invalid(problems)

        out = args.json or RESULTS_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "meta": meta,
                    "targets": {k: s.as_dict() for k, s in summaries.items()},
                    "ratios": {
                        "sign_over_insert": round(sign_ratio, 3),
                        "page_over_bare": round(page_ratio, 3),
                        "sign_over_insert_from_cpu": round(
                            cpu_ratio(summaries["sign"], summaries["insert"]), 3
                        ),
                        "page_over_bare_from_cpu": round(
                            cpu_ratio(summaries["page"], summaries["bare"]), 3
                        ),
                        "targets": {"sign": TARGET_SIGN, "page": TARGET_PAGE},
                    },
                    "checks": checks,
                    "valid": not problems,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"\n  results written to {out}")
    finally:
        for server in reversed(servers):
            server.stop()
        with contextlib.suppress(redis.RedisError):
            queue.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)
    return exit_code


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_state() -> str:
    """The commit measured, and whether the app's files differ from it."""

    def git(*a: str) -> str:
        out = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "campaign", "templates", "migrations", "wsgi.py")
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


if __name__ == "__main__":
    sys.exit(main())
