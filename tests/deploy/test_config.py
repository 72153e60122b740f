"""deploy/ as files: nginx accepts the site, systemd the units, gunicorn its config."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

from tests.deploy.topology import BIN, DEPLOY, NGINX, ROOT, nginx_config

UNITS = sorted(
    p.name for p in (DEPLOY / "systemd").iterdir() if p.suffix in (".service", ".timer", ".target")
)


def test_nginx_accepts_the_site(tmp_path: Path):
    assert NGINX.exists(), "nginx is missing: `make deploy-tools` installs it"
    main = nginx_config(tmp_path, https_port=8443, http_port=8080, upstreams=[8001, 8002])
    done = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr


def test_the_site_keeps_its_promises():
    site = (DEPLOY / "nginx" / "campaign.conf").read_text()
    # PROXY_COUNT=1: one hop, whose X-Forwarded-For is the client alone.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "proxy_set_header X-Request-ID $request_id;" in site
    assert "max_fails=3 fail_timeout=10s" in site  # passive health checks
    assert "proxy_next_upstream error timeout;" in site
    # The micro-cache follows the app's Cache-Control: no fixed validity overrides it.
    assert "proxy_cache campaign_pages;" in site and "proxy_cache_valid" not in site
    assert "proxy_ignore_headers" not in site
    assert "client_max_body_size" in site and "proxy_read_timeout" in site


def test_systemd_accepts_the_units(tmp_path: Path):
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: `make deploy-tools`"
    folder = tmp_path / "system"
    shutil.copytree(DEPLOY / "systemd", folder)
    instances = [u.replace("@.", "@1.") for u in UNITS]
    done = subprocess.run(
        ["systemd-analyze", "verify", *instances],
        cwd=folder,
        env={"SYSTEMD_UNIT_PATH": f"{folder}:", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    # The only complaint allowed: the programs are not installed at /srv/campaign here.
    problems = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "/srv/campaign/" not in line and "not executable" not in line
    ]
    assert problems == []
    assert "Unknown key" not in done.stderr


def test_every_unit_restarts_and_is_hardened():
    common = (DEPLOY / "systemd" / "campaign-.service.d" / "common.conf").read_text()
    for option in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "EnvironmentFile=/etc/campaign/campaign.env",
        "User=campaign",
    ):
        assert option in common
    for unit in ("campaign-web@.service", "campaign-worker@.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        assert "Restart=always" in text and "RestartSec=" in text


def test_gunicorn_accepts_its_config():
    done = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "--check-config", "wsgi:app"],
        cwd=ROOT,
        env={"CAMPAIGN_ENV": "development", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_flask_wrapper_runs_commands_as_the_units_do():
    """deploy/flask.sh (migrations, accounts, content by hand) gets the units' user, folder
    and settings, read from the shared drop-in rather than restated."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(DEPLOY / "systemd" / "campaign-.service.d" / "common.conf")
    service = parser["Service"]
    wrapper = (DEPLOY / "flask.sh").read_text()
    assert f"--uid={service['User']} --gid={service['Group']}" in wrapper
    assert f"-p EnvironmentFile={service['EnvironmentFile']}" in wrapper
    assert f"-p WorkingDirectory={service['WorkingDirectory']}" in wrapper
    assert f"-E {service['Environment']}" in wrapper
    assert subprocess.run(["sh", "-n", str(DEPLOY / "flask.sh")], check=False).returncode == 0
