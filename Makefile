# The two commands of the README: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run playground test lint migrate check-config clean bench screenshots

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Koho needs Python 3.11 or newer (set PYTHON=python3.12, for example).")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

config/organization.toml:
	cp config/organization.example.toml $@
	@echo "Created config/organization.toml from the example: put your channel and user ids into it."

run: $(VENV)/.installed config/organization.toml
	$(PY) -m bot

# The bot with a local workspace in the browser (no Slack); `make run` does this too without tokens.
playground: $(VENV)/.installed config/organization.toml
	$(PY) -m bot playground

test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

migrate: $(VENV)/.installed
	$(PY) -m bot migrate

check-config: $(VENV)/.installed
	$(PY) -m bot check-config

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

# The README's pictures (docs/images/) from the browser tests; needs chromium and fonts-noto-cjk.
screenshots: $(VENV)/.installed
	KOHO_SCREENSHOTS=1 $(PY) -m pytest -q tests/test_playground_browser.py

bench: $(VENV)/.installed
	$(PY) -m bench.run
