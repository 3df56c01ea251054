# PharmaTwin: every target creates .venv and installs the project when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TWIN   := $(VENV)/bin/twin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(TWIN) validate scenarios/osd_plant.yaml
	$(TWIN) run scenarios/osd_plant.yaml --seed 7 --out runs/demo --force
	@echo "The run is stored in runs/demo (events.parquet, kpis.json, scenario.yaml, meta.json)."
	$(TWIN) run scenarios/osd_plant.yaml --seed 7 --replications 2
	@echo "Two replications are in the run store runs/. To look at them in the browser, run"
	@echo "    $(VENV)/bin/twin dash"
	@echo "and open http://127.0.0.1:8050 (Runs, Playback, Compare, What-if, Forecast, Live)."

test: lint
	bash scripts/ensure-browser.sh
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: install
	$(PY) benchmarks/run_all.py

LINT_PATHS := twin optimizer dashboard tests benchmarks $(wildcard examples)

# lint runs first in `make test`, so CI keeps the code lint- and format-clean
lint: install
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info
