# The two commands: `make run` and `make test`. Everything else here is what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: run test setup sync-check infra-check test-compat slides bench-ingest bench-extract bench-match clean

# The virtualenv, the package (editable, with its test tools) and a named Jupyter kernel for papermill and nbval.
$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name capstone --display-name "capstone (.venv)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

# The whole pipeline on the bundled sample; extra runner arguments go in ARGS, e.g. ARGS="--steps match".
run: setup
	$(BIN)/capstone run $(ARGS)

# Notebooks are the source: exporting and cleaning them must not change anything that is committed.
sync-check: setup
	@before=$$(cat nbs/*.ipynb capstone/*.py | md5sum); \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean; \
	after=$$(cat nbs/*.ipynb capstone/*.py | md5sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "FAIL: notebooks and package were out of sync (nbdev_export/nbdev_clean changed files):"; \
	  git status --short -- nbs capstone; exit 1; \
	else echo "notebooks and package in sync"; fi

# Bicep parses and passes checkov's policies (skips carry their reasons inline); tools in their own venv.
INFRA := .venv-infra
$(INFRA)/.installed-stamp: infrastructure/requirements.txt
	test -x $(INFRA)/bin/python || $(PYTHON) -m venv $(INFRA)
	$(INFRA)/bin/python -m pip install -q -r infrastructure/requirements.txt
	touch $@

infra-check: $(INFRA)/.installed-stamp
	$(INFRA)/bin/python infrastructure/check.py

# Forward compatibility: the end-to-end sample pipeline (all notebooks, through the runner) on the latest
# PySpark 4.x, in its own venv with the same bounds otherwise.
COMPAT := .venv-compat
COMPAT_OUT := data/out-compat
$(COMPAT)/.installed-stamp: settings.ini setup.py
	test -x $(COMPAT)/bin/python || $(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install -q --upgrade pip
	$(COMPAT)/bin/python -c "import configparser as c; p = c.ConfigParser(delimiters=['=']); p.read('settings.ini'); \
	  print('pyspark>=4,<5', *[r for r in p['DEFAULT']['requirements'].split() if not r.startswith('pyspark')], sep='\\n')" \
	  > $(COMPAT)/requirements.txt
	$(COMPAT)/bin/python -m pip install -q -r $(COMPAT)/requirements.txt
	$(COMPAT)/bin/python -m pip install -q --no-deps -e .
	$(COMPAT)/bin/python -m ipykernel install --sys-prefix --name capstone --display-name "capstone (PySpark 4)" >/dev/null
	touch $@

test-compat: $(COMPAT)/.installed-stamp
	rm -rf $(COMPAT_OUT)
	@$(COMPAT)/bin/python -c "import pyspark; print('PySpark', pyspark.__version__)"
	PYSPARK_PYTHON=$(abspath $(COMPAT)/bin/python) $(COMPAT)/bin/capstone run -p raw_root=$(COMPAT_OUT)/raw -p output_root=$(COMPAT_OUT)
	$(COMPAT)/bin/python -c "import pyarrow.parquet as pq; n = pq.read_table('$(COMPAT_OUT)/gold/film_soundtrack_links').num_rows; print('gold links on PySpark 4:', n); assert n > 0"

# Unit, pipeline and end-to-end tests, then every notebook under nbval, with coverage of capstone/ (Spark workers included).
test: sync-check infra-check
	mkdir -p metrics
	rm -f .coverage .coverage.*
	$(BIN)/python -m pytest tests nbs --nbval -p no:cacheprovider \
	  --junitxml=metrics/junit.xml \
	  --cov=capstone --cov-report=term --cov-report=json:metrics/coverage.json --cov-fail-under=80; \
	status=$$?; $(BIN)/capstone test-summary || true; exit $$status

# Live TMDB extraction against a local server injecting one fault per run: records accounted for, rate, resume time.
bench-extract: setup
	$(BIN)/capstone bench-extract --films 400 --rate 40

# The matcher against the earlier attempt's naive matcher on generated, labelled films and masters (SIZES films).
MATCH_SIZES ?= 10000,20000,50000,100000,200000,500000,1000000
bench-match: setup
	$(BIN)/capstone bench-match --sizes $(MATCH_SIZES)

# Dump ingestion against a single-process lxml iterparse baseline, on generated dumps of SIZES releases.
SIZES ?= 250000,1000000
bench-ingest: setup
	$(BIN)/capstone bench-ingest --sizes $(SIZES)

# The testing-summary deck from the latest run under data/out and the latest test reports under metrics/.
slides: setup
	$(BIN)/capstone slides

clean:
	rm -rf data/out data/out-compat metrics .coverage .coverage.* runs_local
