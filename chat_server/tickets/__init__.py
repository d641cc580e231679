"""Service requests as Open311 GeoReport v2 tickets: catalogue, store, API, after-hours flow, outbox."""
