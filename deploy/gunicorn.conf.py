"""gunicorn settings for one web instance (campaign-web@N.service gives --bind).

Sync workers: a request is short and does its database work in one round trip, and the
page cache answers the hot pages before Flask; nginx in front buffers slow clients, so
a sync worker is never held by a slow phone.
"""

import os

# Per instance; run several instances rather than many workers, so that nginx can fail
# over from one that dies. On a 2-core host: 2 instances x 2 workers.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 30  # a worker stuck longer is killed and replaced (nginx allows 30 s too)
graceful_timeout = 20  # on restart, requests in flight get this long to finish
keepalive = 5  # nginx keeps connections to the upstream open (`keepalive` there)
# A fresh worker now and then: bounded memory whatever a library keeps.
max_requests = 5000
max_requests_jitter = 500
# The app writes one line per request itself (with its request id): no second access log.
accesslog = None
errorlog = "-"
loglevel = "info"
# Headers are small; a larger one is a client's mistake or an attack.
limit_request_line = 8190
limit_request_fields = 100
proxy_allow_ips = "127.0.0.1,::1"
# The worker's heartbeat file in RAM, not on a disk that may stall.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (gunicorn's own advice; no file of ours)


def child_exit(server, worker):
    """A dead worker's live gauges leave the host's metrics (its counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
