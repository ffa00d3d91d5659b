# propensity: the commands the README promises.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RESULTS ?= results
# An index to take torch and torchvision from before the rest, e.g. torch's CPU wheels:
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu   (into a fresh .venv)
TORCH_INDEX ?=
# The suite in two processes (pytest-xdist), one thread each; the tests that cannot share the
# machine go to one process together (tests/conftest.py, ONE_PROCESS). PYTEST_WORKERS= runs it in one.
PYTEST_WORKERS ?= -n 2

.PHONY: install train test test-fast lint demo demo-retrain report bench clean

install: $(BIN)/propensity-train          ## venv + editable install with dev and llc extras (TORCH_INDEX: torch's own index)

$(BIN)/propensity-train: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q torch torchvision --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[dev,llc]"
	touch $@

train: install                            ## one run, or a sweep with -m: make train ARGS="width=2 init_seed=1"
	$(BIN)/python -m propensity.train $(ARGS)

lint: install                             ## ruff over code, tests and benchmarks; the import layers
	$(BIN)/ruff check propensity tests benchmarks
	$(BIN)/lint-imports

test: install lint                        ## the full suite, slow end-to-end tests included (CI)
	WANDB_MODE=offline WANDB_SILENT=true $(BIN)/pytest -q -ra --durations=20 $(PYTEST_WORKERS)

test-fast: install                        ## everything but the slow end-to-end tests
	WANDB_MODE=offline $(BIN)/pytest -q -m "not slow" $(PYTEST_WORKERS)

demo: install                             ## quickstart sweep on the embedded digits, then its report
	$(BIN)/python -m propensity.train -m experiment=quickstart results_dir=$(RESULTS) launcher=gpus
	$(BIN)/python -m propensity.collect $(RESULTS)/quickstart
	$(BIN)/python -m propensity.report $(RESULTS)/quickstart --out $(RESULTS)/quickstart/report

demo-retrain: install                     ## the quickstart's runs with each retraining regime as a branch, then its report
	$(BIN)/python -m propensity.train -m experiment=quickstart_retrain results_dir=$(RESULTS)
	$(BIN)/python -m propensity.collect $(RESULTS)/quickstart_retrain
	$(BIN)/python -m propensity.report $(RESULTS)/quickstart_retrain --out $(RESULTS)/quickstart_retrain/report

bench: install                            ## speed benchmarks (ratios against baselines run alongside)
	$(BIN)/python benchmarks/train_epoch.py
	$(BIN)/python benchmarks/prune_trajectory.py
	$(BIN)/python benchmarks/pruning_scores.py
	$(BIN)/python benchmarks/threads.py
	$(BIN)/python benchmarks/retrain_cost.py

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
