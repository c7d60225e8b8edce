# chatsite: `make run` serves the app, `make test` runs every test tier. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
IGNORE := --ignore '.venv/*' --ignore 'staticfiles/*' --ignore 'data/*'

.PHONY: install run test bench lint format messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "chatsite is at http://$(HOST):$(PORT)/ (Ctrl+C to stop)"
	$(BIN)/daphne --bind $(HOST) --port $(PORT) chatsite.asgi:application

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run --verbosity 0
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(STAMP)
	$(BIN)/python manage.py makemessages --locale ja $(IGNORE) --ignore 'tests/*'
	$(BIN)/python manage.py makemessages --locale ja --domain djangojs $(IGNORE) --ignore 'tests/*' --ignore 'static/vendor/*'
	$(BIN)/python manage.py compilemessages --locale ja --ignore '.venv/*'

clean:
	rm -rf $(VENV) staticfiles *.egg-info
