# Two commands: `make run` starts the emulator, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 7070
HOST ?= 127.0.0.1
DATA_DIR ?= $(HOME)/.sagemaker-emulator

.PHONY: run test install docker chromium compose bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

docker:
	bash scripts/ensure-docker.sh

# The console's browser tests drive Debian's chromium (tests/test_ui_browser.py).
chromium:
	bash scripts/ensure-chromium.sh

run: install docker
	@echo "Web console: http://$(HOST):$(PORT)/_emulator/ui/"
	$(VENV)/bin/sagemaker-emulator serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: install docker chromium
	$(PY) -m pytest -ra $(PYTEST_ARGS)

# docker-compose.yml's emulator: its image is built locally (no registry), then `up -d`.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
compose: install docker
	$(VENV)/bin/sagemaker-emulator images build emulator
	$(COMPOSE) up -d

bench: install docker
	$(PY) bench/api_and_s3.py

clean:
	rm -rf $(VENV) .pytest_cache
