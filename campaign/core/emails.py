"""Email addresses: canonical form used to recognise the same person twice."""

from __future__ import annotations

# Providers that ignore dots in the local part (Gmail only, among the big ones).
_DOTS_IGNORED = {"gmail.com", "googlemail.com"}
# Providers that deliver local+tag@ to local@ (sub-addressing).
_PLUS_TAGS = {
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "outlook.fr",
    "hotmail.com",
    "hotmail.fr",
    "live.com",
    "live.fr",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "protonmail.com",
    "protonmail.ch",
    "proton.me",
    "pm.me",
    "fastmail.com",
    "fastmail.fm",
}
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def canonical_email(address: str) -> str:
    """Lower-case, then fold the variants a provider delivers to the same mailbox.

    `Jean.Dupont+petition@GoogleMail.com` -> `jeandupont@gmail.com`. Other providers keep
    their dots and tags: for them these are different mailboxes.
    """
    local, _, domain = address.strip().lower().rpartition("@")
    if not local:
        return address.strip().lower()
    domain = domain.rstrip(".")
    if domain in _PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in _DOTS_IGNORED:
        local = local.replace(".", "")
    return f"{local}@{_DOMAIN_ALIASES.get(domain, domain)}"
