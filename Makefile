# The README's two commands:
#   make quickstart   set up from nothing, then run Tower+ in miniature (CPT -> SFT -> WPO -> GRPO)
#   make test         set up from nothing, then run the test suite (all but the `slow` tests)
# Also: make test-all (with the slow end-to-end tests), make test-fast (the edit loop, ~1 min),
#       make lint (ruff + mypy; CI runs it before the tests).
.PHONY: setup quickstart test test-all test-fast lint bench clean
PYTEST = RLSYS_REQUIRE_QE=1 RLSYS_REQUIRE_SANDBOX=1 .venv/bin/python -m pytest -q --timeout=900 --durations=15

setup:
	bash scripts/setup.sh

quickstart: setup
	bash scripts/quickstart.sh

test: setup
	$(PYTEST) -m "not slow and not gpu"

test-all: setup
	$(PYTEST) -m "not gpu"

test-fast:
	.venv/bin/python -m pytest -q -x -m "fast and not slow"

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/grpo_vs_trl.py
	.venv/bin/python benchmarks/rewards.py

clean:
	rm -rf runs .pytest_cache
