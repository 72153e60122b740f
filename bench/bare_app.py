"""The baseline for bench/run.py: the least a Flask app can do for the same two requests.

- `GET /page` returns a fixed HTML page: the bytes of the real petition page, captured
  by run.py just before the run (BENCH_PAGE_FILE), or a filler of BENCH_PAGE_BYTES bytes.
- `POST /insert` reads the posted `email` and does one raw INSERT, committed, into
  `bench_bare_signatures` through one psycopg 3 connection per worker thread, kept open.

No CSRF, no validation, no ORM, no template, no session, no mail: what is left is Flask,
gunicorn, HTTP and one committed PostgreSQL row, which is the floor the real app is
compared with. Run it with the same gunicorn settings as the real app:

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/campaign_bench \\
        gunicorn --chdir bench bare_app:app
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
from flask import Flask, Response, request

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS bench_bare_signatures (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO bench_bare_signatures (email) VALUES (%s)"


def _page_bytes() -> bytes:
    page_file = os.environ.get("BENCH_PAGE_FILE")
    if page_file:
        return Path(page_file).read_bytes()
    size = int(os.environ.get("BENCH_PAGE_BYTES", "17000"))
    head = b"<!doctype html>\n<html lang=fr><meta charset=utf-8><title>Bare</title>\n<p>"
    tail = b"</p>\n</html>\n"
    return head + b"x" * max(size - len(head) - len(tail), 0) + tail


app = Flask(__name__)
PAGE = _page_bytes()
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/campaign_bench"
)
# One connection per worker thread, opened on first use (so after gunicorn's fork).
_local = threading.local()


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(DATABASE_URL, autocommit=True)
        _local.conn = conn
    return conn


@app.get("/page")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")


@app.post("/insert")
def insert() -> Response:
    email = request.form.get("email", "")
    _connection().execute(INSERT, (email,))
    return Response(status=303, headers={"Location": "/merci"})


if __name__ == "__main__":
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(TABLE_DDL)
    print("table bench_bare_signatures ready")
