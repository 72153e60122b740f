"""HTTP security headers, proxy-aware client addresses, no cache for personal data, and
cross-site request refusal for the public forms."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.exceptions import Forbidden
from werkzeug.middleware.proxy_fix import ProxyFix

from campaign.extensions import csrf

# What a browser may say of a request its own page made (or the visitor typed).
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossSiteRequestError(Forbidden):
    """A form posted from another site: refused before the view, nothing saved."""

    description = (
        "Ce formulaire a été envoyé depuis un autre site : pour votre sécurité, il n’a pas "
        "été pris en compte. Ouvrez la page sur notre site et envoyez-le à nouveau."
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin_request() -> bool:
    """Fetch Metadata first (every current browser sends it); else the Origin header; else
    the Referer. A request that proves none of them is refused: a page of our own always
    sends one of them."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in _SAME_SITE_FETCH
    ours = current_app.extensions["public_origin"]
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.lower() == ours
    referer = request.headers.get("Referer")
    return referer is not None and _origin(referer) == ours


def _refuse_cross_site() -> None:
    if request.method not in _SAFE_METHODS and not same_origin_request():
        raise CrossSiteRequestError()


def public_forms(bp: Blueprint) -> None:
    """The forms of `bp` work without a session (no cookie, pages cacheable for everyone):
    no CSRF token, a same-origin check on every POST instead. The console and the member
    space keep their session tokens."""
    csrf.exempt(bp)
    bp.before_request(_refuse_cross_site)


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


_framable: set[str] = set()  # blueprint names


def framable(bp: Blueprint) -> None:
    """Any site may show the pages of `bp` in a frame (an embeddable widget), its refusals
    and errors included; every other page of the site refuses to be framed (clickjacking)."""
    _framable.add(bp.name)


def framed() -> bool:
    """This request is for a page shown in another site's frame (its error pages too)."""
    return request.blueprint in _framable


def _headers(response: Response) -> Response:
    headers = response.headers
    if framed():
        policy = current_app.extensions["csp"]
        headers["Content-Security-Policy"] = policy.replace(
            "frame-ancestors 'none'", "frame-ancestors *"
        )
    else:
        headers.setdefault("Content-Security-Policy", current_app.extensions["csp"])
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
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


class SessionWhenSent(SecureCookieSessionInterface):
    """Most requests carry no session cookie (every public page): give them an empty
    session without building the signing serializer (a few percent of such a request),
    and, if it stays empty, answer with no cookie and no `Vary: Cookie` although a
    template read it (the flashed messages): the page is then the same for everyone and
    a shared cache may keep it."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.config["SESSION_COOKIE_NAME"] not in request.cookies and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return  # nothing was sent, nothing to keep
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = SessionWhenSent()
    hops = app.config["PROXY_COUNT"]
    if hops:
        # Believe the client address and scheme from the proxies we run, so rate limits see
        # the real client. Not X-Forwarded-Host/-Prefix: proxies often pass those through
        # from the client, and every link we build comes from PUBLIC_URL anyway.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )
    app.extensions["csp"] = content_security_policy(app.config["MAP_TILES_URL"])
    app.extensions["public_origin"] = _origin(app.config["PUBLIC_URL"])
    app.after_request(_headers)
