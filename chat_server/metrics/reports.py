"""Reports over an `Aggregator`: dashboard payload, top intents / fallbacks, volumes, agents, CSV.

Pure functions; the HTTP handlers and the CLI call them with the reader's aggregator.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from chat_server.metrics import delivery
from chat_server.metrics.compute import HANDLE_BOUNDS, WAIT_BOUNDS, Aggregator, Bucket, figures
from chat_server.redaction import redact

REPORTS = ("daily", "hourly", "intents", "fallbacks", "volumes", "agents", "kb_feedback", "time_to_close",
           "closed_on_time", "notifications", "incidents")


def dashboard(agg: Aggregator, today: date, now: float, days: int, agents: dict[str, int],
              target: float) -> dict[str, Any]:
    """Everything the supervisor dashboard shows, in one JSON document."""
    sl_s = agg.service_level_s
    today_bucket = agg.range_bucket(today, today)
    hourly = [{"hour": h, **_chart_fields(b, sl_s)} for h, b in agg.hour_buckets(today)]
    daily = [{"date": d.isoformat(), **_chart_fields(b, sl_s)}
             for d, b in agg.day_buckets(today - timedelta(days=days - 1), today)]
    return {
        "generated_at": now,
        "date": today.isoformat(),
        "today": figures(today_bucket, sl_s),
        "live": {**agg.live(now), "agents": agents},
        "target": {"service_level": target, "service_level_s": sl_s},
        "hourly": hourly,
        "daily": daily,
        "wait_histogram": _hist(today_bucket.wait_hist, WAIT_BOUNDS),
    }


def _chart_fields(b: Bucket, sl_s: float) -> dict[str, Any]:
    f = figures(b, sl_s)
    keys = ("chats", "contained", "queued", "answered", "abandoned", "tickets", "service_level", "asa_s",
            "containment_rate")
    return {k: f[k] for k in keys}


def _hist(counts: list[int], bounds: tuple[float, ...]) -> list[dict[str, Any]]:
    labels = [f"≤{int(b)}s" for b in bounds] + [f">{int(bounds[-1])}s"]
    return [{"label": label, "count": c} for label, c in zip(labels, counts, strict=True)]


def top_intents(b: Bucket, n: int) -> list[dict[str, Any]]:
    total = sum(b.labels.values())
    return [{"label": label, "count": c, "share": round(c / total, 4) if total else None}
            for label, c in b.labels.most_common(n)]


def top_fallbacks(b: Bucket, n: int) -> list[dict[str, Any]]:
    # Already redacted when published; redacted again so an old or foreign event cannot leak PII.
    return [{"text": redact(text), "count": c} for text, c in b.fallback_texts.most_common(n)]


def kb_feedback(b: Bucket, n: int) -> list[dict[str, Any]]:
    """Answers residents rated, most "No" first: the articles content staff should look at."""
    rated = article_ratings(b)
    ranked = sorted(rated, key=lambda a: (-rated[a]["not_helpful"], -rated[a]["helpful"], a))[:n]
    return [{"article_id": a, **rated[a],
             "helpful_rate": round(rated[a]["helpful"] / (rated[a]["helpful"] + rated[a]["not_helpful"]), 4)}
            for a in ranked]


def article_ratings(b: Bucket) -> dict[str, dict[str, int]]:
    """Every rated article's "Yes" and "No" counts, for the content page's list."""
    return {a: {"helpful": b.kb_helpful[a], "not_helpful": b.kb_not_helpful[a]}
            for a in sorted(set(b.kb_helpful) | set(b.kb_not_helpful))}


def volumes(b: Bucket) -> dict[str, list[dict[str, Any]]]:
    return {
        "channels": [{"channel": k, "chats": v} for k, v in b.channels.most_common()],
        "languages": [{"language": k, "chats": v} for k, v in b.languages.most_common()],
        "services": [{"service_code": k, "tickets": v} for k, v in b.services.most_common()],
        "dispositions": [{"disposition": k, "count": v} for k, v in b.dispositions.most_common()],
    }


def incident_rows(b: Bucket, titles: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each incident notice's reach in the range: chats given it, chats that asked about it, how many of those
    still wanted an agent, and the rest (contained by the notice). The incidents page shows the same for 30 days;
    the report reads the whole event stream (probe Y: the figures could not be reported or exported)."""
    return [{"incident_id": incident, "title": titles.get(incident, ""), "reached": reached,
             "asked": b.incident_asked[incident],
             "escalated": b.incident_escalated[incident],
             "contained_by_notice": max(0, b.incident_asked[incident] - b.incident_escalated[incident])}
            for incident, reached in b.incident_reached.most_common()]


def agent_rows(b: Bucket) -> list[dict[str, Any]]:
    rows = []
    for name, s in sorted(b.agents.items()):
        rows.append({
            "agent": name, "answered": s.answered,
            "asa_s": round(s.wait_sum / s.answered, 1) if s.answered else None,
            "handled": s.handled, "aht_s": round(s.handle_sum / s.handled, 1) if s.handled else None,
            "transfers_out": s.transfers_out, "csat_responses": s.csat_n,
            "csat_avg": round(s.csat_sum / s.csat_n, 2) if s.csat_n else None,
        })
    return rows


def report(agg: Aggregator, name: str, start: date, end: date, top_n: int = 20, *,
           closings: list[delivery.Closing] | None = None, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows of one report for local dates start..end (inclusive). time_to_close and closed_on_time
    need the range's `closings` (chat_server/metrics/delivery_io.py reads them); `names` are service names."""
    sl_s = agg.service_level_s
    if name == "time_to_close":
        return delivery.time_to_close(closings or [], names)
    if name == "closed_on_time":
        return delivery.closed_on_time(closings or [], names)
    if name == "daily":
        return [{"date": d.isoformat(), **figures(b, sl_s)} for d, b in agg.day_buckets(start, end)]
    if name == "hourly":
        rows: list[dict[str, Any]] = []
        day = start
        while day <= end:
            rows.extend({"date": day.isoformat(), "hour": h, **figures(b, sl_s)} for h, b in agg.hour_buckets(day))
            day += timedelta(days=1)
        return rows
    bucket = agg.range_bucket(start, end)
    if name == "intents":
        return top_intents(bucket, top_n)
    if name == "fallbacks":
        return top_fallbacks(bucket, top_n)
    if name == "agents":
        return agent_rows(bucket)
    if name == "kb_feedback":
        return kb_feedback(bucket, top_n)
    if name == "notifications":
        return delivery.notifications(bucket.notices)
    if name == "incidents":
        return incident_rows(bucket, agg.incident_titles)
    if name == "volumes":
        v = volumes(bucket)
        return ([{"dimension": "channel", "value": r["channel"], "count": r["chats"]} for r in v["channels"]]
                + [{"dimension": "language", "value": r["language"], "count": r["chats"]} for r in v["languages"]]
                + [{"dimension": "service_code", "value": r["service_code"], "count": r["tickets"]}
                   for r in v["services"]]
                + [{"dimension": "disposition", "value": r["disposition"], "count": r["count"]}
                   for r in v["dispositions"]])
    raise ValueError(f"unknown report {name!r}; choose from {', '.join(REPORTS)}")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets skip these before deciding a cell is a formula (" =1+1" and "\ufeff=1+1" both run).
_IGNORED_LEAD = " \t\r\n\ufeff\u00a0\u200b"


def csv_cell(value: Any) -> Any:
    """A value safe to put in a CSV cell: a partner opening the file must never run a resident's text."""
    if not isinstance(value, str):
        return "" if value is None else value
    if value[:1] in _FORMULA_START or value.lstrip(_IGNORED_LEAD)[:1] in _FORMULA_START[:4]:
        return "'" + value
    return value


def column_heading(column: str, language: str, texts: Mapping[str, Mapping[str, str]]) -> str:
    """A report column in words: `report.col.<column>` of staff_texts.yml, the same words the dashboard's
    report table shows. A CSV cell holds seconds where the page writes 3 m 05 s, so a `*_s` heading names
    its unit; a column without words yet shows its name with spaces rather than failing the export."""
    entry = texts.get(f"report.col.{column}")
    seconds = column.endswith("_s")
    words = entry[language] if entry else (column[:-2] if seconds else column).replace("_", " ")
    if seconds:
        words = texts["report.in_seconds"][language].replace("{heading}", words)
    return words


def csv_headings(rows: list[dict[str, Any]], language: str,
                 texts: Mapping[str, Mapping[str, str]]) -> dict[str, str] | None:
    """The columns' headings in words in `language` (the dashboard's export and `chat311 report --headings words`)."""
    return {c: column_heading(c, language, texts) for c in rows[0]} if rows else None


def to_csv(rows: list[dict[str, Any]], headings: Mapping[str, str] | None = None) -> str:
    """The rows as CSV; `headings` maps a column to its heading (default: the column's key)."""
    out = io.StringIO()
    if not rows:
        return ""
    columns = list(rows[0].keys())
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writerow({c: csv_cell((headings or {}).get(c, c)) for c in columns})
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


__all__ = ["HANDLE_BOUNDS", "REPORTS", "WAIT_BOUNDS", "column_heading", "csv_cell", "csv_headings", "dashboard",
           "report", "to_csv"]
