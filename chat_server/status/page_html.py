"""HTML of the resident's status page: pure functions from a view to a string, no I/O.

Every value is escaped; there is no script at all and no inline style (the page works under the
app's CSP), and the layout is one column for phones (static/status/status.css).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from chat_server.texts import text
from chat_server.tickets.service import format_date, others_phrase

LANGUAGES = ("en", "es")


@dataclass
class TimelineItem:
    ts: float
    status: str  # in words
    note: str | None


@dataclass
class StatusView:
    """What the page shows: the ticket's public projection, put in the reader's language."""

    ticket_id: str
    service: str
    status: str  # "open" / "closed"
    status_words: str
    requested_at: float
    expected_at: float | None
    notes: str | None
    description: str | None
    address: str | None
    photos: list[tuple[str, bool]] = field(default_factory=list)  # (url, shown inline: same origin)
    timeline: list[TimelineItem] = field(default_factory=list)
    also_reported: int = 0


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def moment(ts: float, language: str, tz: ZoneInfo) -> str:
    """"May 3, 2025, 2:03 PM" / "3 de mayo de 2025, 14:03" in the city's time zone."""
    d = datetime.fromtimestamp(ts, tz)
    clock = d.strftime("%I:%M %p").lstrip("0") if language == "en" else d.strftime("%H:%M")
    return f"{format_date(ts, language, tz)}, {clock}"


def _iso(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).replace(microsecond=0).isoformat()


def shell(language: str, title: str, body: str, switch_href: str | None = None) -> str:
    other = "es" if language == "en" else "en"
    switch = (f'<a class="switch" href="{e(switch_href)}" lang="{other}" hreflang="{other}" '
              f'aria-label="{e(text("page_switch_label", language))}">{e(text("page_switch", language))}</a>'
              if switch_href else "")
    return (
        f'<!DOCTYPE html>\n<html lang="{e(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f'<title>{e(title)}</title><link rel="stylesheet" href="/status-assets/status.css"></head>'
        f'<body><header class="top"><p class="brand">{e(text("page_brand", language))}</p>{switch}</header>'
        f'<main id="main">{body}</main>'
        f'<footer class="foot"><p>{e(text("page_footer", language))}</p></footer></body></html>'
    )


def _escaped_texts(language: str) -> Callable[..., str]:
    """The page's copy in `language`, HTML-escaped: the templates' shorthand `t(key, **values)`."""
    def t(key: str, **values: object) -> str:
        return e(text(key, language, **values))
    return t


def status_page(view: StatusView, language: str, tz: ZoneInfo, *, stop_token: str | None = None,
                message: str | None = None, error: str | None = None, contact: str = "",
                follow_by: frozenset[str] = frozenset({"sms", "email"})) -> str:
    """`follow_by`: the channels updates can go out by ("sms", "email"); the form offers only those (it promised
    texts with SMS off; probe V), and none means no form."""
    t = _escaped_texts(language)
    facts = [(t("page_filed"), e(moment(view.requested_at, language, tz)))]
    if view.expected_at and view.status == "open":
        facts.append((t("page_expected"), e(format_date(view.expected_at, language, tz))))
    if view.address:
        facts.append((t("page_address"), e(view.address)))
    if view.also_reported:
        facts.append((t("page_also_reported"), e(others_phrase(view.also_reported, language))))
    parts = [
        f'<h1>{t("page_heading", ticket_id=view.ticket_id)}</h1>',
        f'<p class="service">{e(view.service)}</p>',
        f'<p class="status status--{e(view.status)}"><span class="label">{t("page_status")}:</span> '
        f'<strong>{e(view.status_words)}</strong></p>',
    ]
    if message:
        parts.append(f'<p class="notice" role="status">{e(message)}</p>')
    parts.append("<dl class=\"facts\">" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")
    if view.notes:
        parts.append(f'<section aria-labelledby="notes-h"><h2 id="notes-h">{t("page_notes")}</h2>'
                     f'<p class="note">{e(view.notes)}</p></section>')
    if view.description:
        parts.append(f'<section aria-labelledby="desc-h"><h2 id="desc-h">{t("page_description")}</h2>'
                     f'<p>{e(view.description)}</p></section>')
    items = "".join(
        f'<li><time datetime="{e(_iso(item.ts, tz))}">{e(moment(item.ts, language, tz))}</time> '
        f'<span class="what">{e(item.status)}</span>'
        + (f'<p class="note">{e(item.note)}</p>' if item.note else "") + "</li>"
        for item in reversed(view.timeline))
    parts.append(f'<section aria-labelledby="hist-h"><h2 id="hist-h">{t("page_timeline")}</h2>'
                 f'<ol class="timeline">{items}</ol></section>')
    if view.photos:
        photos = "".join(
            f'<a href="{e(url)}"><img src="{e(url)}" alt="{t("page_photo_alt")}" loading="lazy"></a>' if inline
            else f'<a href="{e(url)}" rel="noopener noreferrer">{t("page_photo_link")}</a>'
            for url, inline in view.photos)
        parts.append(f'<section aria-labelledby="photo-h"><h2 id="photo-h">{t("page_photos")}</h2>'
                     f'<div class="photos">{photos}</div></section>')
    if follow_by:
        parts.append(_follow_form(view.ticket_id, language, error, contact, follow_by))
    elif error:  # a refused follow request (a private request, say) is answered even with no form to show
        parts.append(f'<p class="error" role="alert">{e(error)}</p>')
    if stop_token:
        parts.append(f'<form class="stop" method="post" action="/status/unfollow/{e(stop_token)}">'
                     f'<input type="hidden" name="lang" value="{e(language)}">'
                     f'<button type="submit">{t("unfollow_button")}</button></form>')
    return shell(language, text("page_title", language, ticket_id=view.ticket_id), "".join(parts),
                 f"/status/{view.ticket_id}?lang={'es' if language == 'en' else 'en'}")


def follow_variant(follow_by: frozenset[str]) -> str:
    """The suffix of the follow form's copy keys for the channels it offers: none for both, `_sms` or `_email` for
    one (`_email` when there is none, for a refusal shown with no form)."""
    return "" if len(follow_by) > 1 else f"_{next(iter(follow_by), 'email')}"


def _follow_form(ticket_id: str, language: str, error: str | None, contact: str, follow_by: frozenset[str]) -> str:
    t = _escaped_texts(language)
    by = follow_variant(follow_by)
    err = (f'<p class="error" id="contact-error" role="alert">{e(error)}</p>' if error else "")
    described = "contact-help contact-error" if error else "contact-help"
    invalid = ' aria-invalid="true"' if error else ""
    return (
        f'<section aria-labelledby="follow-h"><h2 id="follow-h">{t("page_follow")}</h2>'
        f'<form class="follow" method="post" action="/status/{e(ticket_id)}/follow">'
        f'<p id="contact-help">{t("page_follow_help" + by)}</p>{err}'
        f'<label for="contact">{t("page_contact" + by)}</label>'
        f'<input id="contact" name="contact" type="text" inputmode="{"tel" if by == "_sms" else "email"}" '
        f'autocomplete="{"tel" if by == "_sms" else "email"}" required '
        f'maxlength="254" value="{e(contact)}" aria-describedby="{described}"{invalid}>'
        f'<input type="hidden" name="lang" value="{e(language)}">'
        f'<button type="submit">{t("page_follow_submit")}</button></form></section>'
    )


def message_page(language: str, heading: str, paragraph: str, ticket_id: str | None = None,
                 action: str | None = None, button: str | None = None) -> str:
    """A short page (confirm / stop / done / expired), optionally with one POST button."""
    body = f"<h1>{e(heading)}</h1><p>{e(paragraph)}</p>"
    if action and button:
        body += (f'<form method="post" action="{e(action)}"><input type="hidden" name="lang" value="{e(language)}">'
                 f'<button type="submit">{e(button)}</button></form>')
    if ticket_id:
        body += (f'<p><a href="/status/{e(ticket_id)}?lang={e(language)}">'
                 f'{e(text("page_back", language, ticket_id=ticket_id))}</a></p>')
    return shell(language, heading, body)


def not_found_page(ticket_id: str) -> str:
    """Both languages on one page: we do not know the reader's language without a ticket."""
    sections = "".join(
        f'<section lang="{lang}"><h1>{e(text("page_not_found_title", lang))}</h1>'
        f'<p>{e(text("page_not_found", lang, ticket_id=ticket_id))}</p></section>'
        for lang in LANGUAGES)
    return shell("en", f'{text("page_not_found_title", "en")} / {text("page_not_found_title", "es")}', sections)
