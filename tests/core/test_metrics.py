"""/metrics: Prometheus figures, for the host's own scraper or the token's holder only."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from campaign.extensions import db
from tests.factories import (
    confirmation_link,
    make_petition,
    path_of,
    sign_through_form,
)

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


def scrape(client: FlaskClient, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics answer, by name and labels."""
    response = client.get("/metrics", environ_base=LOOPBACK, headers=headers)
    assert response.status_code == 200, response.text
    assert response.content_type.startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def petition_slug(app: Flask) -> str:
    with app.app_context():
        slug = make_petition(slug="metrics-petition").slug
        db.session.commit()
    return slug


def test_a_scraper_on_the_host_reads_them_directly(client: FlaskClient):
    response = client.get("/metrics", environ_base=LOOPBACK)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert "campaign_http_requests_total" in response.text


@pytest.mark.parametrize(
    ("environ", "headers"),
    [
        ({"REMOTE_ADDR": "203.0.113.9"}, {}),  # another host, directly
        # Through the proxy on the same host: loopback peer, but X-Forwarded-For is set.
        (LOOPBACK, {"X-Forwarded-For": "203.0.113.9"}),
        (LOOPBACK, {"X-Forwarded-For": "127.0.0.1"}),  # a client cannot claim to be local
    ],
)
def test_anyone_else_is_refused_in_french(client: FlaskClient, environ: dict, headers: dict):
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == 403
    assert "réservées" in response.text
    assert "campaign_" not in response.text


def test_the_token_opens_them_from_anywhere(app: Flask, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-token-for-prometheus")
    client = app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    wrong = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    right = client.get(
        "/metrics",
        environ_base=remote,
        headers={"Authorization": "Bearer s3cret-token-for-prometheus"},
    )
    assert right.status_code == 200
    assert "campaign_http_requests_total" in right.text


def test_requests_are_counted_by_route_rule_and_status(client: FlaskClient, petition_slug: str):
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/petitions/{petition_slug}").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    after = scrape(client)
    labels = {"route": "/petitions/<slug>", "method": "GET", "status": "200"}
    counted = value(after, "campaign_http_requests_total", **labels)
    assert counted - value(before, "campaign_http_requests_total", **labels) == 3
    unmatched = {"route": "(unmatched)", "method": "GET", "status": "404"}
    assert (
        value(after, "campaign_http_requests_total", **unmatched)
        - value(before, "campaign_http_requests_total", **unmatched)
        == 1
    )
    # The path itself is never a label of a request: the slug does not appear.
    http = [labels for name, labels in after if name.startswith("campaign_http_")]
    assert http and not any(petition_slug in str(labels) for labels in http)
    seen = "campaign_http_request_duration_seconds_count"
    assert (
        value(after, seen, route="/petitions/<slug>")
        - value(before, seen, route="/petitions/<slug>")
        == 3
    )


def test_page_cache_hits_and_misses_are_counted(
    app: Flask, client: FlaskClient, petition_slug: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 30)
    before = scrape(client)
    for _ in range(4):
        assert client.get(f"/petitions/{petition_slug}").status_code == 200
    after = scrape(client)
    lookups = "campaign_page_cache_lookups_total"
    assert value(after, lookups, result="miss") - value(before, lookups, result="miss") == 1
    assert value(after, lookups, result="hit") - value(before, lookups, result="hit") == 3
    # Served from the cache in front of Flask, still under the page's route rule.
    labels = {"route": "/petitions/<slug>", "method": "GET", "status": "200"}
    requests = "campaign_http_requests_total"
    assert value(after, requests, **labels) - value(before, requests, **labels) == 4


def test_signings_confirmations_mails_and_counts(
    app: Flask, client: FlaskClient, petition_slug: str, outbox: list
):
    before = scrape(client)
    assert sign_through_form(client, petition_slug).status_code in (200, 303)
    assert client.get(path_of(confirmation_link(outbox[-1]))).status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("campaign_signatures_total", event="accepted") == 1
    assert grew("campaign_signatures_total", event="confirmed") == 1
    assert grew("campaign_mails_total", outcome="sent") == 1
    online = {"petition": petition_slug, "channel": "online"}
    assert value(after, "campaign_petition_signatures", **online) == 1
    assert value(after, "campaign_outbox_messages", status="sent") == 1
    assert value(after, "campaign_outbox_backlog") == 0
    assert value(after, "campaign_database_readings_up") == 1


def test_a_failed_send_is_counted_as_retried(
    app: Flask, client: FlaskClient, petition_slug: str, monkeypatch: pytest.MonkeyPatch
):
    from campaign.core import mail

    def smtp_down(payload: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(mail, "send_now", smtp_down)
    before = scrape(client)
    sign_through_form(client, petition_slug)
    after = scrape(client)
    retried = value(after, "campaign_mails_total", outcome="retried")
    assert retried - value(before, "campaign_mails_total", outcome="retried") == 1
    assert value(after, "campaign_outbox_backlog") == 1
    assert value(after, "campaign_outbox_messages", status="pending") == 1


def test_database_down_still_answers_with_the_process_figures(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
):
    def unreachable(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    with app.app_context():
        monkeypatch.setattr(type(db.session), "execute", unreachable)
        samples = scrape(client)
    assert value(samples, "campaign_database_readings_up") == 0
    assert any(name == "campaign_http_requests_total" for name, _ in samples)


def test_processes_sharing_a_directory_are_summed(tmp_path: Path, database_url: str):
    """As deploy/ runs them: each process writes its counters to PROMETHEUS_MULTIPROC_DIR,
    and any one's /metrics shows the sum. Separate interpreters: the mode is chosen at
    prometheus_client's import."""
    script = textwrap.dedent(
        """
        import sys
        from campaign import create_app
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": sys.argv[1],
                          "SECRET_KEY": "x" * 32, "PAGE_CACHE_SECONDS": 0})
        client = app.test_client()
        for _ in range(int(sys.argv[2])):
            assert client.get("/healthz").status_code == 200
        if sys.argv[3] == "scrape":
            print(client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).text)
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "CAMPAIGN_ENV": "development"}

    def run(count: int, action: str) -> str:
        done = subprocess.run(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", script, database_url, str(count), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run(2, "-")
    run(3, "-")
    exposition = run(4, "scrape")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(samples, "campaign_http_requests_total", **labels) == 9
    assert len(list(tmp_path.glob("counter_*.db"))) == 3
