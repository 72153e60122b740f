"""Reading the site's HTML responses in tests: the text, a field's error, a flash after a POST."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_error(response: TestResponse, field: str) -> str | None:
    """The error paragraph rendered next to a field (templates/_form.html), or None."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)) if match else None


def flashed(client: FlaskClient, response: TestResponse) -> str:
    """The page a POST redirected to, with its flash messages."""
    assert response.status_code == 303, response.status
    return text_of(client.get(response.headers["Location"]))
