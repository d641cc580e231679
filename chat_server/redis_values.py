"""Typed conversions between our str data and what redis-py accepts and returns (pure).

Our clients use `decode_responses=False`, so replies are bytes at run time, but redis-py types
them `bytes | str` (and stream replies with optional parts). These helpers say once how to read
them, so stores stay strictly typed without casts or ignores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.typing import EncodableT, FieldT

StreamEntry = tuple[bytes | str, dict[bytes | str, bytes | str]]


def text(value: bytes | str) -> str:
    """A reply value as text."""
    return value.decode() if isinstance(value, bytes) else value


def text_map(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash reply (HGETALL, a stream entry's fields) as text."""
    return {text(k): text(v) for k, v in raw.items()}


def fields(mapping: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    """Our str → str field maps as the mapping type HSET / XADD are declared with."""
    return {key: value for key, value in mapping.items()}


def stream_entries(rows: list[tuple[bytes | str | None, dict[bytes | str, bytes | str] | None]] | None,
                   ) -> list[StreamEntry]:
    """XRANGE / XREVRANGE rows; redis-py allows empty parts (a deleted entry), which carry nothing."""
    return [(mid, raw) for mid, raw in rows or [] if mid is not None and raw is not None]


def members(rows: Iterable[Any]) -> list[str]:
    """ZRANGE-family replies without scores, and SMEMBERS, as text (redis-py declares a union of shapes)."""
    return [text(member) for member in rows]


def scored_members(rows: Iterable[Any]) -> list[tuple[str, float]]:
    """ZRANGE-family replies WITH SCORES as (member, score): redis-py declares them as bare members."""
    return [(text(member), float(score)) for member, score in rows]
