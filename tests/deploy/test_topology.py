"""The production topology of deploy/, on loopback, under faults, one after the other.

nginx (deploy/nginx/campaign.conf) in front of two web instances and two queue workers
(deploy/systemd, restarted by their Restart= policy), a PostgreSQL cluster, a Redis and an
SMTP sink of its own. A bounded load of signings (10 % signed twice, after confirming)
and page views runs through nginx while, in turn: SMTP is down 60 s, Redis down 20 s, a
queue worker and a web instance are killed with -9, PostgreSQL restarts. Then: every
accepted signature is stored, each address got exactly one confirmation mail (and each
second signing one "déjà signé" mail), the counts are exact, no answer was a 500 and 503s
came only while the database was down, nginx failed over, /readyz reported each fault
and its recovery, and the supervisor restarted what was killed. ~4 minutes.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.deploy.topology import (
    BIN,
    CONFIRM_LINK,
    NGINX,
    ROOT,
    Postgres,
    Redis,
    Sink,
    Supervised,
    free_port,
    nginx_config,
    poll,
    run,
    unit_command,
    wait_for_port,
)

pytestmark = pytest.mark.topology

SIGNERS = 300
DUPLICATES = SIGNERS // 10
SLUG = "quatre-urgences"  # the demo's open petition (flask seed-demo)
# Each of the two signer threads signs about once a second, so that signings go on
# through every fault (~150 s from the first to the last).
PACE = 0.9
METRICS_TOKEN = secrets.token_urlsafe(24)


@dataclass
class Answer:
    started: float
    ended: float
    method: str
    path: str
    status: int  # 0: no answer at all (connection refused, reset)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Site:
    base: str
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirect()
        )

    def call(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One request through nginx; the answers of the load (not of the probes) are kept."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers or {}
        )
        if form is not None:
            request.add_header("Origin", self.base)  # a browser's same-origin form post
            request.add_header("Sec-Fetch-Site", "same-origin")
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=15) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status, body = 0, b""
        if not path.startswith(("/readyz", "/metrics")):
            with self.lock:
                self.answers.append(Answer(started, time.monotonic(), method, path, status))
        return status, body


@dataclass
class Stack:
    folder: Path
    env: dict[str, str]
    postgres: Postgres
    redis: Redis
    sink: Sink
    webs: list[Supervised]
    web_ports: list[int]
    workers: list[Supervised]
    nginx: subprocess.Popen[bytes]
    site: Site
    # A connection per use (no pool): the database restarts under the test.
    database: Engine = field(init=False)

    def __post_init__(self) -> None:
        url = self.postgres.url.replace("postgresql://", "postgresql+psycopg://")
        self.database = create_engine(url, poolclass=NullPool)

    def unsent_older_than(self, moment: datetime) -> int:
        with self.database.connect() as connection:
            return connection.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE created_at < :moment"
                    " AND status IN ('pending', 'queued', 'sending')"
                ),
                {"moment": moment},
            ).scalar_one()

    def now(self) -> datetime:
        with self.database.connect() as connection:
            return connection.execute(text("SELECT now()")).scalar_one()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    assert NGINX.exists(), "nginx is missing: `make deploy-tools` installs it"
    folder = tmp_path_factory.mktemp("topology")
    postgres = Postgres(free_port())
    postgres.start()
    redis = Redis(folder, free_port())
    redis.start()
    sink = Sink(free_port())
    sink.up()
    https, http = free_port(), free_port()
    web_ports = [free_port(), free_port()]
    (folder / "metrics").mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "CAMPAIGN_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "TOTP_KEY": Fernet.generate_key().decode(),
        "PUBLIC_URL": f"https://127.0.0.1:{https}",
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
        "MAIL_USE_TLS": "false",
        "MAIL_DEFAULT_SENDER": "Les 400 000 <ne-pas-repondre@petition.example.org>",
        "PROXY_COUNT": "1",
        "INSTANCE_PATH": str(folder / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        "LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "2",
        "METRICS_TOKEN": METRICS_TOKEN,
        # The load comes from one address, posts as soon as it has the form, and the SMTP
        # outage is 60 s: retries from 5 s (doubling) bring the mail soon after it ends.
        "SIGN_RATE_LIMIT": "100000 per minute",
        "FORM_MIN_SECONDS": "0",
        "MAIL_RETRY_SECONDS": "5",
    }
    for command in (["db", "upgrade"], ["seed-demo"]):
        run([str(BIN / "flask"), "--app", "wsgi", *command], cwd=ROOT, env=env)
    webs = [
        Supervised(
            f"web{n}",
            "campaign-web@.service",
            unit_command(
                "campaign-web@.service", str(n), {f"127.0.0.1:800{n}": f"127.0.0.1:{port}"}
            ),
            env,
            folder / f"web{n}.log",
        )
        for n, port in enumerate(web_ports, start=1)
    ]
    workers = [
        Supervised(
            f"worker{n}",
            "campaign-worker@.service",
            unit_command("campaign-worker@.service", str(n), {}),
            env,
            folder / f"worker{n}.log",
        )
        for n in (1, 2)
    ]
    main = nginx_config(folder / "nginx", https, http, web_ports)
    nginx = subprocess.Popen(
        [str(NGINX), "-p", str(folder / "nginx"), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for port in (*web_ports, https):
        wait_for_port(port, 60)
    site = Site(f"https://127.0.0.1:{https}")
    assert poll(lambda: site.call("GET", "/readyz")[0] == 200, 60), "the site never got ready"
    assert poll(lambda: _workers_alive(site) == 2, 30), "the queue workers never beat"
    built = Stack(folder, env, postgres, redis, sink, webs, web_ports, workers, nginx, site)
    yield built
    nginx.terminate()
    for process in (*webs, *workers):
        process.stop()
    sink.down()
    redis.stop()
    postgres.stop()
    postgres.remove()
    nginx.wait(10)
    built.database.dispose()


class Load:
    """Signers through nginx: each signs, confirms from the mail it gets, and one in ten
    signs again once confirmed. A post with any answer but 303 may or may not have been
    stored (a 503, a dying instance): as a person would, the signer tries again, unless
    the database shows that it was."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.site = stack, stack.site
        self.todo = [f"signataire{n}@example.org" for n in range(SIGNERS)]
        self.twice = set(random.Random(7).sample(self.todo, DUPLICATES))
        self.accepted: set[str] = set()
        self.confirmed: set[str] = set()
        self.second_posts: set[str] = set()
        self.retried = Counter[str]()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def form(self, email: str) -> dict[str, str]:
        _, page = self.site.call("GET", f"/petitions/{SLUG}")
        started = page.split(b'name="started" type="hidden" value="', 1)[-1].split(b'"', 1)[0]
        return {
            "started": started.decode(),
            "first_name": "Camille",
            "last_name": "Martin",
            "email": email,
            "country": "FR",
            "postcode": "29200",
            "consent": "y",
        }

    def stored(self, email: str) -> bool:
        try:
            with self.stack.database.connect() as connection:
                return bool(
                    connection.execute(
                        text("SELECT 1 FROM signatures WHERE email = :e"), {"e": email}
                    ).first()
                )
        except Exception:  # the database restarting: ask again later
            return False

    def sign(self, email: str) -> bool:
        status, _ = self.site.call("POST", f"/petitions/{SLUG}", self.form(email))
        return status == 303 or self.stored(email)

    def signer(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                email = self.todo.pop(0) if self.todo else None
            if email is None:
                time.sleep(0.2)
                continue
            if self.sign(email):
                self.accepted.add(email)
            else:
                self.retried[email] += 1
                time.sleep(0.5)
                with self.lock:
                    self.todo.append(email)
            time.sleep(PACE)

    def confirmer(self) -> None:
        seen = 0
        while not self.stop.is_set():
            messages = self.stack.sink.received()
            for message in messages[seen:]:
                text_part = message.get_body(preferencelist=("plain",))
                content = text_part.get_content() if text_part else ""
                link = CONFIRM_LINK.search(content)
                if link is None:
                    continue
                path = urllib.parse.urlsplit(link.group(0)).path
                while self.site.call("GET", path)[0] != 200 and not self.stop.is_set():
                    time.sleep(1)
                email = message["To"]
                self.confirmed.add(email)
                if email in self.twice:
                    with self.lock:
                        self.todo.append(email)
                        self.second_posts.add(email)
            seen = len(messages)
            time.sleep(0.5)

    def reader(self) -> None:
        while not self.stop.is_set():
            self.site.call(
                "GET", random.choice(["/", f"/petitions/{SLUG}", f"/petitions/{SLUG}/count.json"])
            )
            time.sleep(0.1)

    def done(self) -> bool:
        with self.lock:
            return (
                not self.todo
                and len(self.confirmed) == SIGNERS
                and self.second_posts == self.twice
                and self.twice <= self.accepted | self.confirmed
            )


@dataclass
class Readiness:
    site: Site
    seen: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)

    def watch(self, stop: threading.Event) -> None:
        while not stop.is_set():
            status, body = self.site.call("GET", "/readyz")
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                payload = {}
            self.seen.append((time.monotonic(), status, payload))
            time.sleep(0.5)

    def between(self, start: float, end: float) -> list[tuple[int, dict[str, Any]]]:
        return [(s, p) for t, s, p in self.seen if start <= t <= end]


def _workers_alive(site: Site) -> int | None:
    status, body = site.call("GET", "/readyz")
    return json.loads(body).get("workers", {}).get("alive") if status == 200 else None


def _restarted_since(readiness: Readiness, moment: float) -> bool:
    """A /readyz answer, after `moment`, naming a worker started after it."""
    for seen, _status, payload in readiness.seen:
        started = payload.get("workers", {}).get("newest_started_seconds")
        if seen > moment and started is not None and seen - started >= moment - 1:
            return True
    return False


def _status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # a loopback instance
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _backlog(readiness: Readiness) -> int | None:
    last = readiness.seen[-1][2] if readiness.seen else {}
    return last.get("outbox", {}).get("backlog")


def test_the_topology_survives_each_fault(stack: Stack):
    load = Load(stack)
    readiness = Readiness(stack.site)
    watching = threading.Event()
    threads = [threading.Thread(target=readiness.watch, args=(watching,), daemon=True)]
    threads += [
        threading.Thread(target=f, daemon=True)
        for f in (load.signer, load.signer, load.confirmer, load.reader)
    ]
    for thread in threads:
        thread.start()
    times: dict[str, float] = {"start": time.monotonic()}
    figures: dict[str, Any] = {}
    time.sleep(10)

    # 1. SMTP down 60 s: signing goes on, the mails wait in the outbox.
    times["smtp_down"] = time.monotonic()
    stack.sink.down()
    time.sleep(60)
    figures["backlog_during_smtp_outage"] = _backlog(readiness)
    stack.sink.up()
    times["smtp_up"] = time.monotonic()
    smtp_up = stack.now()
    assert poll(lambda: stack.unsent_older_than(smtp_up) == 0, 90), (
        "the mails held during the SMTP outage were not all sent"
    )
    figures["smtp_drained_after_s"] = round(time.monotonic() - times["smtp_up"], 1)

    # 2. Redis down 20 s.
    times["redis_down"] = time.monotonic()
    stack.redis.stop()
    time.sleep(20)
    stack.redis.start()
    times["redis_up"] = time.monotonic()
    assert poll(lambda: readiness.seen[-1][1] == 200, 30), "/readyz did not recover from Redis"
    figures["redis_ready_after_s"] = round(time.monotonic() - times["redis_up"], 1)

    # 3. A queue worker killed with -9: its supervisor starts it again, and /readyz shows
    # a worker started since the kill.
    worker = stack.workers[0]
    old_pid = worker.pid
    times["worker_killed"] = time.monotonic()
    worker.kill()
    assert poll(lambda: worker.starts == 2 and worker.pid != old_pid, 15)
    figures["worker_restarted_after_s"] = round(time.monotonic() - times["worker_killed"], 1)
    assert poll(lambda: _restarted_since(readiness, times["worker_killed"]), 20), (
        "/readyz never showed the restarted worker"
    )
    figures["worker_beating_after_s"] = round(time.monotonic() - times["worker_killed"], 1)

    # 4. A web instance killed with -9: nginx sends its share to the other.
    web = stack.webs[0]
    time.sleep(3)
    times["web_killed"] = time.monotonic()
    web.kill()
    direct = f"http://127.0.0.1:{stack.web_ports[0]}/readyz"
    assert _status_of(direct) == 0  # the instance itself is gone…
    time.sleep(1.5)
    times["web_dead_until"] = time.monotonic()
    assert poll(lambda: web.starts == 2, 15)
    assert poll(lambda: _status_of(direct) == 200, 30)  # …and back, ready
    figures["web_restarted_after_s"] = round(time.monotonic() - times["web_killed"], 1)

    # 5. PostgreSQL restarted.
    time.sleep(5)
    times["db_down"] = time.monotonic()
    stack.postgres.stop()
    time.sleep(5)
    stack.postgres.start()
    times["db_up"] = time.monotonic()
    assert poll(lambda: readiness.seen[-1][1] == 200, 30), (
        "/readyz did not recover from the database"
    )
    figures["db_ready_after_s"] = round(time.monotonic() - times["db_up"], 1)

    # Everyone signs, confirms, and the outbox empties (a job lost with the killed worker
    # comes due again when its lease ends, 90 s).
    settled = poll(lambda: load.done() and _backlog(readiness) == 0, 240, every=1)
    times["settled"] = time.monotonic()
    time.sleep(3)  # the last mails' answers
    load.stop.set()
    watching.set()
    for thread in threads:
        thread.join(20)
    figures["settled_after_last_fault_s"] = round(times["settled"] - times["db_up"], 1)
    assert settled, f"not settled: {len(load.confirmed)} confirmed, {len(load.todo)} to sign"

    # Every accepted signature stored, once, and confirmed; the counts exact.
    with stack.database.connect() as connection:
        stored = dict(
            connection.execute(text("SELECT email, confirmed_at IS NOT NULL FROM signatures")).all()
        )
        outbox = dict(
            connection.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all()
        )
        paper = connection.execute(
            text("SELECT paper_count FROM petitions WHERE slug = :s"), {"s": SLUG}
        ).scalar_one()
    assert set(stored) == load.accepted | load.confirmed
    assert len(stored) == SIGNERS and all(stored.values())
    status, body = stack.site.call("GET", f"/petitions/{SLUG}/count.json")
    assert status == 200
    assert json.loads(body)["signature_count"] == SIGNERS + paper

    # Exactly one confirmation mail per address; one "déjà signé" per second signing.
    subjects = Counter(
        (m["To"], "confirm" if m["Subject"].startswith("Confirmez") else "already")
        for m in stack.sink.received()
    )
    assert {to for (to, kind) in subjects if kind == "confirm"} == set(stored)
    assert [k for k, n in subjects.items() if n != 1] == []
    assert {to for (to, kind) in subjects if kind == "already"} == load.twice
    assert set(outbox) <= {"sent", "skipped"}

    # No 500, no answerless request; 503 only while the database was down; the dead
    # instance's share failed over (a POST caught mid-flight by the kill may get a 502).
    answers = stack.site.answers
    statuses = Counter(a.status for a in answers)
    figures["answers"] = dict(statuses)
    assert statuses[500] == 0 and statuses[0] == 0
    late = [
        a
        for a in answers
        if a.status == 503 and not (times["db_down"] - 1 <= a.ended <= times["db_up"] + 10)
    ]
    assert late == []
    gateway = [a for a in answers if a.status in (502, 504)]
    assert all(
        a.method == "POST" and a.started <= times["web_killed"] + 0.1 <= a.ended + 2
        for a in gateway
    ), gateway
    during = [a for a in answers if times["web_killed"] < a.started < times["web_dead_until"]]
    assert during and all(a.status in (200, 303, 304) for a in during), Counter(
        a.status for a in during
    )
    error_log = (stack.folder / "nginx" / "campaign.error.log").read_text()
    assert "Connection refused) while connecting to upstream" in error_log  # it did fail over

    # /readyz told each fault, then the recovery.
    during_redis = readiness.between(times["redis_down"] + 1, times["redis_up"])
    assert any(s == 503 and not p["checks"]["redis"]["ok"] for s, p in during_redis)
    during_db = readiness.between(times["db_down"], times["db_up"] + 2)
    assert any(
        s == 503 and not p.get("checks", {}).get("database", {}).get("ok", True)
        for s, p in during_db
    ) or any(s in (0, 502, 503) for s, _ in during_db)
    during_smtp = readiness.between(times["smtp_down"] + 5, times["smtp_up"])
    assert any(p.get("outbox", {}).get("backlog", 0) > 0 for _, p in during_smtp)
    assert readiness.seen[-1][1] == 200

    # The metrics of every process of the host, summed, from any instance directly.
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{stack.web_ports[1]}/metrics", timeout=10)
        .read()
        .decode()
    )
    sent = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('campaign_mails_total{outcome="sent"}')
    )
    figures["metrics_mails_sent"] = sent
    # Through nginx: no such address without a token, refused with a wrong one, the same
    # summed figures with the right one.
    assert stack.site.call("GET", "/metrics")[0] == 404
    assert stack.site.call("GET", "/metrics", headers={"Authorization": "Bearer nope"})[0] == 403
    status, body = stack.site.call(
        "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200 and b'campaign_mails_total{outcome="sent"}' in body
    assert b"campaign_workers_alive 2.0" in body
    figures["mails_received"] = len(stack.sink.received())
    assert sent >= figures["mails_received"] - 2  # a worker killed between send and count
    figures.update(
        signers=SIGNERS, second_signings=DUPLICATES, retried_posts=sum(load.retried.values())
    )
    print("\ntopology figures:", json.dumps(figures, indent=1))
