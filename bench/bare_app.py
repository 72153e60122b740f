"""The baselines of bench/harness.py: the least Flask can do, under the app's gunicorn settings.

- `GET /page` returns the bytes of the real petition page (captured by the harness just
  before, BENCH_PAGE_FILE) as a constant: no template, no session, no database.
- `POST /insert` reads the posted `email` and does one raw INSERT, committed, through one
  psycopg 3 connection per worker, kept open (BENCH_DATABASE_URL).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
from flask import Flask, Response, request

TABLE_DDL = """CREATE TABLE IF NOT EXISTS bench_bare_signatures (
    id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""

app = Flask(__name__)
PAGE = Path(os.environ.get("BENCH_PAGE_FILE", os.devnull)).read_bytes()
_local = threading.local()  # one connection per worker thread, opened after gunicorn's fork


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"], autocommit=True)
    return conn


@app.get("/page")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")


@app.post("/insert")
def insert() -> Response:
    email = request.form.get("email", "")
    _connection().execute("INSERT INTO bench_bare_signatures (email) VALUES (%s)", (email,))
    return Response(status=303, headers={"Location": "/merci"})
