# Two commands: `make run` starts the emulator, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 7070
HOST ?= 127.0.0.1
DATA_DIR ?= $(HOME)/.sagemaker-emulator

.PHONY: run test install docker bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

docker:
	bash scripts/ensure-docker.sh

run: install docker
	$(VENV)/bin/sagemaker-emulator serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: install docker
	$(PY) -m pytest -ra $(PYTEST_ARGS)

bench: install docker
	$(PY) bench/api_and_s3.py

clean:
	rm -rf $(VENV) .pytest_cache
