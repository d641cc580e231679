"""`/metrics` in Prometheus text format, computed from the same aggregation as the dashboard.

A custom Collector instead of counters incremented at call sites: every process reports the
whole service's figures (read from the shared event log), so the numbers match the dashboard
and the CSV export exactly, and scraping any one of N processes gives the same answer.
Counters are totals of the events this process has read (its window on startup, then
everything new): they only grow while the process lives, which is what `rate()` needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from chat_server.metrics.compute import HANDLE_BOUNDS, WAIT_BOUNDS, Bucket, figures
from chat_server.metrics.reader import MetricsReader

COUNTERS = (
    ("conversations", "chats", "Conversations started"),
    ("escalations", "escalated", "Conversations in which the resident asked for a person"),
    ("queued", "queued", "Conversations that entered the agent queue"),
    ("answered", "answered", "Queued conversations answered by an agent"),
    ("answered_within_sl", "answered_in_sl", "Queued conversations answered within the service-level time"),
    ("abandoned", "abandoned", "Queued conversations the resident left before an agent answered"),
    ("handled", "handled", "Agent-handled conversations closed"),
    ("transfers", "transfers", "Transfers between agents"),
    ("tickets", "tickets", "Tickets (Open311 service requests) created"),
    ("bot_answers", "bot_answers", "Resident messages the bot answered with a label"),
    ("fallbacks", "fallbacks", "Resident messages the bot did not understand"),
    ("csat_responses", "csat_n", "Satisfaction ratings received"),
    ("csat_rating_sum", "csat_sum", "Sum of satisfaction ratings (1-5)"),
    ("conversations_closed", "closed", "Conversations closed"),
    ("tickets_closed", "tickets_closed", "Tickets moved from open to closed"),
)


def _histogram(name: str, doc: str, counts: list[int], bounds: tuple[float, ...], total: float) -> Any:
    cumulative, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=False):
        cumulative += count
        buckets.append((str(bound), cumulative))
    buckets.append(("+Inf", cumulative + counts[-1]))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class EventLogCollector(Collector):
    def __init__(self, reader: MetricsReader, target: float) -> None:
        self.reader = reader
        self.target = target
        self.agents: dict[str, int] = {}

    def collect(self) -> Iterator[Any]:
        agg = self.reader.agg
        totals: Bucket = agg.totals
        for name, attr, doc in COUNTERS:
            yield CounterMetricFamily(f"chat311_{name}", doc, value=getattr(totals, attr))
        by_channel = CounterMetricFamily("chat311_conversations_by_channel", "Conversations by channel",
                                         labels=["channel"])
        for channel, count in sorted(totals.channels.items()):
            by_channel.add_metric([channel], count)
        yield by_channel
        by_lang = CounterMetricFamily("chat311_conversations_by_language", "Conversations by language",
                                      labels=["language"])
        for language, count in sorted(totals.languages.items()):
            by_lang.add_metric([language], count)
        yield by_lang
        labels = CounterMetricFamily("chat311_bot_labels", "Bot answers by resolved label", labels=["label"])
        for label, count in sorted(totals.labels.items()):
            labels.add_metric([label], count)
        yield labels
        notices = CounterMetricFamily(
            "chat311_status_notifications", "Ticket status notifications by the resident's channel and outcome "
            "(queued: handed to a channel's outbox; sent: shown in web chat or taken by the provider; "
            "failed: an outbox gave up on it; skipped: nobody to tell; "
            "undelivered: the provider lost it after it was sent)",
            labels=["channel", "outcome"])
        for key, count in sorted(totals.notices.items()):
            channel, _, outcome = key.partition("/")
            notices.add_metric([channel, outcome], count)
        yield notices
        yield _histogram("chat311_answer_wait_seconds", "Queue wait until an agent answered",
                         totals.wait_hist, WAIT_BOUNDS, totals.wait_sum)
        yield _histogram("chat311_handle_time_seconds", "Agent handle time of closed conversations",
                         totals.handle_hist, HANDLE_BOUNDS, totals.handle_sum)

        now = time.time()
        live = agg.live(now)
        yield GaugeMetricFamily("chat311_queue_length", "Conversations waiting for an agent now",
                                value=live["queue_length"])
        yield GaugeMetricFamily("chat311_queue_longest_wait_seconds", "Longest current queue wait",
                                value=live["longest_wait_s"])
        agents = GaugeMetricFamily("chat311_agents", "Agents by presence", labels=["status"])
        for status, count in sorted(self.agents.items()):
            agents.add_metric([status], count)
        yield agents
        today = self.reader.today(now)
        fig = figures(agg.range_bucket(today, today), agg.service_level_s)
        today_gauge = GaugeMetricFamily("chat311_today", "Today's dashboard figures (local day)", labels=["figure"])
        for key, value in fig.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                today_gauge.add_metric([key], float(value))
        yield today_gauge
        yield GaugeMetricFamily("chat311_service_level_target", "Service-level target share", value=self.target)
        yield GaugeMetricFamily("chat311_service_level_seconds", "Service-level answer time",
                                value=agg.service_level_s)
