"""Escalation to people: staffed hours, agent accounts and presence, queue and routing, console."""
