"""Reading what the service-delivery reports need, and the one way every report is produced.

`report_rows` is shared by the dashboard's report API, the CSV export and `chat311 report`: the
event log gives the closings of the range (ticket ids per hour, chat_server/metrics/compute.py),
the ticket store gives each ticket's request time, expected date and status history, and the pure
functions of chat_server/metrics/delivery.py and reports.py turn them into rows.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from chat_server.metrics.delivery import Closing, last_closing
from chat_server.metrics.reader import MetricsReader
from chat_server.metrics.reports import report
from chat_server.tickets.store import TicketStore

TICKET_REPORTS = ("time_to_close", "closed_on_time")
BATCH = 200


async def closings(store: TicketStore, ticket_ids: list[str], lo: float, hi: float) -> list[Closing]:
    """The tickets among `ticket_ids` whose last closing falls in [lo, hi), as read from the store now."""
    out: list[Closing] = []
    for i in range(0, len(ticket_ids), BATCH):
        tickets = await asyncio.gather(*(store.get(tid) for tid in ticket_ids[i:i + BATCH]))
        for ticket in tickets:
            if ticket is None:
                continue
            closed_at = last_closing(ticket.history, lo, hi)
            if closed_at is not None:
                out.append(Closing(ticket.id, ticket.service_code, ticket.requested_at, closed_at,
                                   ticket.expected_at))
    return out


async def report_rows(reader: MetricsReader, name: str, start: date, end: date, top_n: int,
                      store: TicketStore | None, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows of report `name` for local dates start..end (raises ValueError for an unknown name)."""
    agg = await reader.for_range(start, end)
    found: list[Closing] | None = None
    if name in TICKET_REPORTS:
        if store is None:
            raise ValueError(f"the {name} report needs the tickets module")
        ids = sorted(agg.range_bucket(start, end).closed_tickets)
        found = await closings(store, ids, *reader.bounds(start, end))
    return report(agg, name, start, end, top_n, closings=found, names=names)
