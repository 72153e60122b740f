"""Prometheus metrics at /metrics, for a scraper on the host or one holding the token.

Two kinds of figures:
- what the processes saw (requests, latencies, page cache results, mails sent): counters
  and histograms of prometheus_client. Under gunicorn each worker process counts its own;
  with PROMETHEUS_MULTIPROC_DIR set (deploy/ sets it for the web instances and the queue
  workers of a host) they write to files there and any instance's /metrics sums them all.
- what the database holds (outbox backlog and age, confirmed signatures): read at scrape
  time by the readings a domain registers, so they are the same whichever instance answers.

Route labels are URL rules (`/petitions/<slug>`), never paths, so their number stays bounded.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from campaign.extensions import db

logger = logging.getLogger(__name__)
disable_created_metrics()  # the *_created series only double what a scraper sees
ROUTE_KEY = "campaign.route"  # set in the WSGI environ by Flask or the page cache
UNMATCHED = "(unmatched)"

REQUESTS = Counter(
    "campaign_http_requests", "HTTP requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "campaign_http_request_duration_seconds",
    "Time to answer a request, cache hits included",
    ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PAGE_CACHE = Counter(
    "campaign_page_cache_lookups",
    "Page cache lookups: hit, stale (served while another renders), miss, stale_on_error",
    ["result"],
)
MAILS = Counter(
    "campaign_mails", "Outbox deliveries: sent, skipped, retried later, failed", ["outcome"]
)

Reading = Callable[[], Iterable[Metric]]
_readings: list[Reading] = []


def reading(read: Reading) -> Reading:
    """Register a function giving figures read from the database at each scrape."""
    _readings.append(read)
    return read


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def observe(route: str, method: str, status: str, seconds: float) -> None:
    REQUESTS.labels(route, method, status).inc()
    LATENCY.labels(route).observe(seconds)


class _Readings(Collector):
    def collect(self) -> Iterable[Metric]:
        up = gauge("campaign_database_readings_up", "1 when the database figures were read")
        try:
            figures = [metric for read in _readings for metric in read()]
        except SQLAlchemyError as exc:
            db.session.rollback()
            logger.warning("Metrics: database figures not read: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*figures, up]


class _Processes(Collector):
    """This process's own figures (no PROMETHEUS_MULTIPROC_DIR: one process, or a test)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Processes())
    registry.register(_Readings())
    return generate_latest(registry)


def _allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    # The peer itself, before any proxy header is believed: nginx on the same host is on
    # loopback too, so a proxied request (it carries X-Forwarded-For) never counts as local.
    peer = request.environ.get("werkzeug.proxy_fix.orig", request.environ).get("REMOTE_ADDR")
    try:
        local = ipaddress.ip_address(peer or "").is_loopback
    except ValueError:
        local = False
    return local and "X-Forwarded-For" not in request.headers


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    if not _allowed():
        return Response(
            "Métriques réservées à l’hôte ou au porteur du jeton METRICS_TOKEN.\n",
            403,
            {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
        )
    return Response(
        exposition(), 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
    )


def _route_of(exc: BaseException | None = None) -> None:
    rule = request.url_rule
    request.environ.setdefault(ROUTE_KEY, rule.rule if rule is not None else UNMATCHED)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.teardown_request(_route_of)
