"""The deployment of deploy/ run on loopback, for the tests: its own nginx, PostgreSQL
cluster, Redis and SMTP sink, the web instances and queue workers of the systemd units.

There is no systemd as PID 1 here (nor in CI), so `Supervised` plays its part from the
unit files themselves: their ExecStart (paths moved to this checkout, the instance's
port), their Restart= and RestartSec=. What the units say is what runs.
"""

from __future__ import annotations

import configparser
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = ROOT / ".venv" / "bin"
NGINX = Path("/usr/sbin/nginx")


def run(command: list[str], **options: Any) -> None:
    """subprocess.run that, on failure, says what the command printed."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if done.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


# --- nginx -----------------------------------------------------------------------------------


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Each replacement must match: a config that drifted from the test fails loudly."""
    for old, new in replacements.items():
        assert old in text, f"deploy/ no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_config(folder: Path, https_port: int, http_port: int, upstreams: list[int]) -> Path:
    """deploy/nginx/campaign.conf with its host's values replaced by this test's, inside
    a main nginx.conf of the test's own (pid, logs and temp files in `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(folder)
    site = (DEPLOY / "nginx" / "campaign.conf").read_text()
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in upstreams
    )
    site = substitute(
        site,
        {
            "    server 127.0.0.1:8001 max_fails=3 fail_timeout=10s;\n"
            "    server 127.0.0.1:8002 max_fails=3 fail_timeout=10s;\n": servers,
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "/etc/letsencrypt/live/petition.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/petition.example.org/privkey.pem": str(key),
            "/var/cache/nginx/campaign": str(folder / "cache"),
            "/var/log/nginx/": f"{folder}/",
            "/srv/campaign/app/static/": f"{ROOT / 'static'}/",
        },
    )
    (folder / "campaign.conf").write_text(site)
    user = pwd.getpwuid(os.getuid()).pw_name
    temp = "".join(
        f"    {name}_temp_path {folder / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        (f"user {user};\n" if os.getuid() == 0 else "")
        + f"worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        + f"error_log {folder / 'main.error.log'};\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        f"    access_log {folder / 'main.access.log'};\n{temp}"
        f"    include {folder / 'campaign.conf'};\n"
        "}\n"
    )
    return main


# --- the SMTP sink ---------------------------------------------------------------------------


@dataclass
class Sink:
    """A real SMTP server in this process, that can be taken down and brought back."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def up(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


# --- processes under a supervisor, as systemd runs the units --------------------------------


def unit_command(unit: str, instance: str, replacements: dict[str, str]) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(DEPLOY / "systemd" / unit)
    line = parser["Service"]["ExecStart"].replace("%i", instance)
    line = substitute(line, {"/srv/campaign/app/.venv/bin/": f"{BIN}/", **replacements})
    return shlex.split(line)


def unit_restart(unit: str) -> tuple[str, float]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(DEPLOY / "systemd" / unit)
    service = parser["Service"]
    return service.get("Restart", "no"), float(service.get("RestartSec", "0.1"))


class Supervised:
    """One unit's process, started again by its Restart= policy when it dies."""

    def __init__(self, name: str, unit: str, command: list[str], env: dict[str, str], log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.policy, self.delay = unit_restart(unit)
        self.starts = 0
        self.stopping = False
        self.process: subprocess.Popen[bytes] | None = None
        self._start()
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _start(self) -> None:
        with self.log.open("ab") as out:
            # A session of its own: a kill reaches the whole instance (gunicorn and its
            # workers), as systemd kills a unit's control group.
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.starts += 1

    def _watch(self) -> None:
        while not self.stopping:
            assert self.process is not None
            code = self.process.wait()
            if self.stopping:
                return
            if self.policy == "always" or (self.policy == "on-failure" and code != 0):
                time.sleep(self.delay)
                if not self.stopping:
                    self._start()
            else:
                return

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """kill -9, of every process of the unit."""
        os.killpg(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)


# --- PostgreSQL and Redis of their own -------------------------------------------------------


def postgres_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name) or name


class Postgres:
    """A cluster in `folder`, on its own port. As root, run as the postgres user (initdb
    refuses root)."""

    def __init__(self, port: int) -> None:
        # Not under pytest's temporary folder: as root that one is closed to other users.
        self.folder, self.port = Path(tempfile.mkdtemp(prefix="campaign-pg-")), port
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.getuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.run(
            postgres_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *command: str) -> None:
        run([*self.as_user, *command])

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self.run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            action,
            *extra,
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def poll(check: Callable[[], bool], seconds: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


CONFIRM_LINK = re.compile(r"https?://\S+/signature/confirmer/[A-Za-z0-9_-]+")
