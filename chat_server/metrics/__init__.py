"""Service-level metrics, reports and the supervisor dashboard, all computed from the event log."""
