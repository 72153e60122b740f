"""HTTP security headers, proxy-aware client addresses, and no cache for personal data."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix


def content_security_policy(tiles_url: str) -> str:
    """Everything comes from the site itself (no inline script, no third party) except
    the map's tile images, from the tile server's origin."""
    tiles = urlsplit(tiles_url)
    tile_origin = f" {tiles.scheme}://{tiles.netloc}" if tiles.scheme in {"http", "https"} else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data:{tile_origin}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.extensions["csp"])
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def no_store(bp: Blueprint) -> None:
    """No cache, the browser's or a proxy's, keeps any response of `bp`: its pages show
    personal data. Every response, redirects and errors included, whatever a view set."""
    bp.after_request(_no_store)


def init_app(app: Flask) -> None:
    hops = app.config["PROXY_COUNT"]
    if hops:
        # Believe the client address and scheme from the proxies we run, so rate limits see
        # the real client. Not X-Forwarded-Host/-Prefix: proxies often pass those through
        # from the client, and every link we build comes from PUBLIC_URL anyway.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )
    app.extensions["csp"] = content_security_policy(app.config["MAP_TILES_URL"])
    app.after_request(_headers)
