"""Petition pages: read, sign, check your mailbox, confirm, resend; and the JSON counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from campaign.core import pagecache, security
from campaign.core.db import commit_keeping_loaded, retry_on_dropped_connection
from campaign.core.errors import refill_on_outage
from campaign.core.forms import EmailForm
from campaign.core.urls import public_url_for
from campaign.extensions import db, limiter
from campaign.petition import counting, editing, relay, services
from campaign.petition.consent import consent_text
from campaign.petition.forms import SignForm, accepted_signing, clean_tag
from campaign.petition.models import Petition

bp = Blueprint("petition", __name__)
security.public_forms(bp)
pagecache.page(r"/petitions/[^/]+", params=SignForm.tag_fields)
# Polled by every open page: kept as long as the count cache keeps a count anyway.
pagecache.page(r"/petitions/[^/]+/count\.json", max_age_setting="COUNT_CACHE_SECONDS")


def sign_limit() -> str:
    return current_app.config["SIGN_RATE_LIMIT"]


def petition_or_404(slug: str) -> Petition:
    petition = services.get_petition(slug)
    if petition is None:
        abort(404)
    return petition


def signing_context(petition: Petition, form: SignForm) -> dict[str, Any]:
    """What a page with the signing form shows: the page itself, or the widget."""
    return {
        "petition": petition,
        "form": form,
        "count": counting.count(petition),
        "stage": services.stage(petition),
        "consent": consent_text(petition.collective.name),
        "not_open_messages": NOT_OPEN_MESSAGES,
    }


def _petition_html(petition: Petition, form: SignForm, **context: object) -> str:
    official = services.latest_official_counts([petition.id]) if petition.is_relayed else {}
    return render_template(
        "petition/show.html",
        **signing_context(petition, form),
        corrections=services.corrections(petition),
        official_count=official.get(petition.id),
        **context,
    )


def _render_petition(petition: Petition, form: SignForm, status: int) -> tuple[str, int]:
    return _petition_html(petition, form), status


NOT_OPEN_MESSAGES = {
    "upcoming": "Cette pétition n’est pas encore ouverte aux signatures.",
    "closed": "Cette pétition est close : elle ne recueille plus de signatures.",
    "handed_over": "Cette pétition a été remise : elle ne recueille plus de signatures.",
    "relayed": "Cette pétition se signe sur le site officiel : suivez le bouton ci-dessus.",
}


@bp.get("/petitions/<slug>")
@retry_on_dropped_connection
def show(slug: str) -> tuple[str, int]:
    # The hot page: the same for every visitor, kept by core/pagecache in front of Flask.
    form = SignForm(formdata=None, data=tags_of_link())
    return _render_petition(petition_or_404(slug), form, 200)


Shown = Callable[[Petition, SignForm, int], tuple[str, int]]


def take_signing(slug: str, shown: Shown, thanks: str) -> Response | tuple[str, int]:
    """A signing posted to the petition page or to its widget: recorded, then `thanks`
    (303); or the form `shown` again, saying why (422), or that the petition is closed."""
    petition = services.petition_ref(slug)
    if petition is None:
        abort(404)
    if not petition.is_open() or petition.is_relayed:  # the page says why, not the form
        return shown(petition_or_404(slug), SignForm(), 409)
    # The form is built only when the quick reading declines: to say what is wrong.
    signing = accepted_signing(request.form)
    if signing is None:
        form = SignForm()
        if not form.validate():
            return shown(petition_or_404(slug), form, 422)
        signing = form.to_input()  # the form has the last word (both read the same rules)
    if not SignForm.posted_by_bot(request.form):
        try:
            services.sign(petition, signing)
        except services.PetitionClosedError:
            return shown(petition_or_404(slug), SignForm(), 409)
        if db.session().in_transaction():  # PostgreSQL's signing commits on its own
            db.session.commit()
    return redirect(thanks, code=303)


def signing_endpoint(view: Callable[..., Any]) -> Callable[..., Any]:
    """A signing POST's guards: the per-client limit, the 503 page that gives the typed
    form back, one retry on a connection found dropped."""
    # One allowance for the page and the widget: two would double what a script may post.
    guarded = refill_on_outage(SignForm)(retry_on_dropped_connection(view))
    return limiter.shared_limit(sign_limit, scope="sign")(guarded)


def tags_of_link() -> dict[str, str | None]:
    """The source tags a link to the page carries (?source=, ?org=…), for the form."""
    return {name: clean_tag(request.args.get(name)) for name in SignForm.tag_fields}


@bp.post("/petitions/<slug>")
@signing_endpoint
def sign(slug: str) -> Response | tuple[str, int]:
    return take_signing(slug, _render_petition, url_for("petition.check_mail", slug=slug))


@bp.get("/petitions/<slug>/apercu/<token>")
def preview(slug: str, token: str) -> Response:
    """A draft as it will read, at a private link from the console; never cached, never
    indexed, never signable."""
    petition = services.get_petition(slug, include_drafts=True)
    if petition is None or not editing.preview_allowed(petition, token):
        abort(404)
    html = _petition_html(petition, SignForm(formdata=None), preview=True)
    response = Response(html)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/petitions/<slug>/versions/<int:number>")
def version(slug: str, number: int) -> str:
    """An earlier (or the current) text of a corrected petition, as it was signed."""
    petition = petition_or_404(slug)
    found = services.petition_version(petition, number)
    if found is None:
        abort(404)
    return render_template(
        "petition/version.html", petition=petition, version=found, stage=services.stage(petition)
    )


@bp.get("/petitions/<slug>/signer-officiel")
def relay_to_official(slug: str) -> Response:
    """A relayed petition's button and QR codes: one visitor counted, then sent on."""
    petition = services.petition_ref(slug)
    if petition is None:
        abort(404)
    if not petition.official_url:
        return redirect(url_for("petition.show", slug=slug), code=302)
    relay.record_click(
        petition,
        request.args.get("source") or request.args.get("utm_source"),
        request.args.get("org"),
        request.args.get("rassemblement"),
    )
    db.session.commit()
    response = redirect(petition.official_url, code=302)
    response.headers["Cache-Control"] = "no-store"  # each visit counts, none from a cache
    return response


RESEND_ANSWERS = {
    services.Resend.RECORDED: (
        "Demande enregistrée : si cette adresse a signé la pétition, un nouvel e-mail part "
        "dans les minutes qui viennent. Pensez à regarder dans les courriers indésirables.",
        200,
    ),
    services.Resend.TOO_MANY: (
        "Plusieurs e-mails ont déjà été demandés pour cette adresse : nous n’en enverrons pas "
        "d’autre pour le moment. Cherchez le premier dans vos courriers indésirables, ou "
        "réessayez dans quelques heures.",
        429,
    ),
    services.Resend.CLOSED: (
        "Cette pétition ne recueille plus de signatures : il n’y a plus rien à confirmer.",
        409,
    ),
}


def _check_mail_page(petition: Petition, form: EmailForm, status: int, **context: object):
    return render_template(
        "petition/check_mail.html", petition=petition, form=form, **context
    ), status


@bp.get("/petitions/<slug>/merci")
def check_mail(slug: str) -> tuple[str, int]:
    petition = petition_or_404(slug)
    # After a resend: the answer travels in the URL, not in a session (no cookie here).
    resent = request.args.get("renvoi") == "ok"
    answer = RESEND_ANSWERS[services.Resend.RECORDED][0] if resent else None
    return _check_mail_page(petition, EmailForm(formdata=None), 200, answer=answer)


@bp.post("/petitions/<slug>/renvoyer")
@limiter.limit(sign_limit)
@refill_on_outage(EmailForm)
@retry_on_dropped_connection
def resend(slug: str) -> Response | tuple[str, int]:
    petition = petition_or_404(slug)
    form = EmailForm()
    if not form.validate():
        return _check_mail_page(petition, form, 422)
    result = services.resend(petition, form.email.data)
    db.session.commit()
    if result is services.Resend.RECORDED:
        return redirect(url_for("petition.check_mail", slug=slug, renvoi="ok"), code=303)
    message, status = RESEND_ANSWERS[result]
    return _check_mail_page(petition, form, status, answer=message, refused=True)


@bp.get("/signature/confirmer/<token>")
def confirm(token: str) -> tuple[str, int]:
    result = services.confirm(token)
    commit_keeping_loaded()
    status = result.status
    http_status = 404 if status is services.ConfirmStatus.UNKNOWN else 200
    petition = result.signature.petition if result.signature else None
    return render_template(
        "petition/confirmed.html",
        result=result,
        statuses=services.ConfirmStatus,
        petition=petition,
        count=counting.count(petition) if petition else None,
        form=EmailForm(formdata=None),
    ), http_status


@bp.get("/signature/retirer/<token>")
def withdraw_form(token: str) -> tuple[str, int]:
    """Only asks: a mail scanner opening the link must not delete anything."""
    signature = services.find_by_token(token)
    return render_template("petition/withdraw.html", signature=signature, done=False), (
        200 if signature else 404
    )


@bp.post("/signature/retirer/<token>")
def withdraw(token: str) -> tuple[str, int]:
    petition = services.withdraw(token)
    db.session.commit()
    if petition is None:  # already withdrawn (a second click) or never existed
        return render_template("petition/withdraw.html", signature=None, done=False), 404
    return render_template("petition/withdraw.html", petition=petition, done=True), 200


def _cached_json(payload: object, max_age: int = 5) -> Response:
    response = jsonify(payload)
    # Shared caches may serve it for a few seconds, and a stale copy while they refresh.
    response.headers["Cache-Control"] = (
        f"public, max-age={max_age}, s-maxage={max_age}, stale-while-revalidate=10"
    )
    # Open data: any site may show the counts (no cookie or personal data in them).
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/petitions.json")
def list_json() -> Response:
    petitions = services.public_petitions()
    totals = counting.counts([p.id for p in petitions])
    return _cached_json(
        [
            {
                "slug": p.slug,
                "title": p.title,
                "url": public_url_for("petition.show", slug=p.slug),
                "signature_count": totals[p.id],
                "target": p.target,
                "status": p.status.value,
            }
            for p in petitions
        ]
    )


@bp.get("/petitions/<slug>/count.json")
@retry_on_dropped_connection
def count_json(slug: str) -> Response:
    # Polled by every open petition page: the cached reference, then the live count.
    petition = services.petition_ref(slug)
    if petition is None:
        abort(404)
    return _cached_json(
        {
            "slug": petition.slug,
            "signature_count": counting.counts([petition.id])[petition.id],
            "target": petition.target,
            "status": petition.status.value,
        }
    )
