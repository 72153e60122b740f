"""iCalendar (RFC 5545) files: one rally, or every published rally of a day (a feed).

Times are written in Europe/Paris with the VTIMEZONE that says what that means, so a
phone set to another zone still shows the right hour. A rally whose time is still to be
set is an all-day event.
"""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar, Event

from campaign.core.urls import public_url_for
from campaign.rallies.models import PARIS, Rally, RallyStatus

PRODID = "-//campaign//rassemblements//FR"


def _event(rally: Rally, host: str) -> Event:
    event = Event()
    event.add("uid", f"rally-{rally.id}@{host}")
    event.add("dtstamp", rally.updated_at)
    event.add("last-modified", rally.updated_at)
    if rally.start_time:
        event.add("dtstart", rally.starts_at())
        event.add("dtend", rally.ends_at())
    else:
        event.add("dtstart", rally.date)
        event.add("dtend", rally.date + timedelta(days=1))
    cancelled = rally.status is RallyStatus.CANCELLED
    event.add("summary", f"{'ANNULÉ – ' if cancelled else ''}{rally.day.title} : {rally.city}")
    where = ", ".join(p for p in (rally.venue, rally.address, rally.city) if p)
    event.add("location", where)
    event.add("geo", (rally.latitude, rally.longitude))
    url = public_url_for("rallies.show", rally_id=rally.id)
    event.add("url", url)
    details = [rally.description]
    if not rally.start_time:
        details.append("Horaire : à préciser")
    if not rally.venue:
        details.append("Lieu : à préciser")
    if rally.organisations:
        details.append("Organisé par : " + ", ".join(o.name for o in rally.organisations))
    details.append(url)
    event.add("description", "\n\n".join(d for d in details if d))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def ics(rallies: list[Rally], name: str, host: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", str(PARIS))
    for rally in rallies:
        calendar.add_component(_event(rally, host))
    calendar.add_missing_timezones()
    return calendar.to_ical()
