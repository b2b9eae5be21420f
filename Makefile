# The README's two commands:
#   make quickstart   set up from nothing, then run Tower+ in miniature (CPT -> SFT -> WPO -> GRPO)
#   make test         set up from nothing, then run the test suite
.PHONY: setup quickstart test test-fast bench clean

setup:
	bash scripts/setup.sh

quickstart: setup
	bash scripts/quickstart.sh

test: setup
	RLSYS_REQUIRE_QE=1 RLSYS_REQUIRE_SANDBOX=1 .venv/bin/python -m pytest -q --timeout=900

bench: setup
	.venv/bin/python benchmarks/grpo_vs_trl.py
	.venv/bin/python benchmarks/rewards.py

clean:
	rm -rf runs .pytest_cache
