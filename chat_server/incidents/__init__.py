"""Incident mode: one notice every channel and the bot use at once (docs/incidents.md)."""
