"""Helpers the tests share; test modules import from here and never from each other.

What lives where (one subject per module):
- `servers`: the real components (embedded Redis, Rasa + action server, `chat311 serve` processes)
  and the one environment builder (`chat311_env`, `server_env`, `run_chat311`, `quoted_prefix`);
  the session and module fixtures in tests/conftest.py are built from it.
- `waiting`: the one waiting helper, `until` (poll or wake until a deadline, then fail saying what
  never happened), and its thin uses `eventually`, `events_until`, `first_event`.
- `clients`: the resident's Socket.IO client. `agents`: agent accounts, HTTP console login, the
  `/agents` Socket.IO client, escalation and its server settings (`escalation_env`, overrides
  for `server_factory`). `staff`: console/supervisor accounts and sign-ins.
- `faults`: bot-less server factories (fixtures `bare_factory`, `private_bare_factory`, registered
  with `pytest_plugins` in tests/conftest.py), log reading, a raw Engine.IO client.
- `channel_standins`: Twilio, SMTP relay and app-webhook stand-ins, a bot-less channel server, app
  tokens; `standin_fixtures` starts one of each for a test (fixtures `twilio`, `relay`, `hook`, registered
  like `faults`). `email`: the e-mail channel from the resident's side.
- `open311`: a bot-less Open311 server, API keys, the GeoReport client. `georeport_upstream`: a
  city's upstream Open311 server (run as its own process).
- `browser`: Playwright with the system Chromium, axe scans, widget helpers.
- `bot`: the Rasa bot spoken to directly, and its label set. `tickets`: answers for the bot's
  ticket form. `metrics`: a scripted day of events with known figures.
"""
