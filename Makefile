# The two commands: `make run` and `make test`. Everything else here is what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: run test setup sync-check lint infra-check test-compat test-connect connect-steps test-dbr dbr-install slides bench-ingest bench-extract bench-match bench-pipeline clean

# The virtualenv, the package (editable, with every extra: spark, run, slides, bench, test and the notebook tools)
# and a named Jupyter kernel for papermill and nbval.
$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name capstone --display-name "capstone (.venv)" >/dev/null
	touch $(STAMP)

# Maven jars pip's pyspark lacks (Delta Lake, Spark 3.5's Connect server), at the runtime's versions
# (infrastructure/databricks/runtime-14.3-lts-jars.txt), copied from Maven Central once into a cache Spark then uses
# offline: a run never downloads.
JARS := .jars/spark-3.5
JAR_LIST := infrastructure/databricks/runtime-14.3-lts-jars.txt
$(JARS)/.fetched-stamp: $(JAR_LIST)
	mkdir -p $(JARS)
	for a in $$(grep -v '^\s*#' $(JAR_LIST)); do \
	  mvn -q -B dependency:copy -Dartifact=$$a -DoutputDirectory=$(JARS) || exit 1; done
	touch $@

setup: $(STAMP) $(JARS)/.fetched-stamp

# The whole pipeline on the bundled sample, its tables registered in Spark's own catalog under the schema `capstone`
# (data/out/_catalog); extra runner arguments go in ARGS, e.g. ARGS="--steps match".
run: setup
	$(BIN)/capstone run -p schema=capstone $(ARGS)

# Notebooks are the source: exporting and cleaning them must not change anything that is committed.
sync-check: setup
	@before=$$(cat nbs/*.ipynb nbs/tools/*.ipynb capstone/*.py capstone/linkage/*.py capstone/tools/*.py | md5sum); \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean; \
	after=$$(cat nbs/*.ipynb nbs/tools/*.ipynb capstone/*.py capstone/linkage/*.py capstone/tools/*.py | md5sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "FAIL: notebooks and package were out of sync (nbdev_export/nbdev_clean changed files):"; \
	  git status --short -- nbs capstone; exit 1; \
	else echo "notebooks and package in sync"; fi

# Lint and format (ruff.toml): pyflakes and syntax errors on the notebooks, the tests and the exported package;
# the format check on the sources (the notebooks, the tests, the tools), not on the package they generate.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Bicep parses and passes checkov's policies (skips carry their reasons inline); tools in their own venv.
INFRA := .venv-infra
$(INFRA)/.installed-stamp: infrastructure/requirements.txt
	test -x $(INFRA)/bin/python || $(PYTHON) -m venv $(INFRA)
	$(INFRA)/bin/python -m pip install -q -r infrastructure/requirements.txt
	touch $@

infra-check: $(INFRA)/.installed-stamp
	$(INFRA)/bin/python infrastructure/check.py

# Forward compatibility: the end-to-end sample pipeline (all notebooks, through the runner) on the latest
# PySpark 4.x, in its own venv: pyspark 4 first, then the package with the runner's and the tests' extras (not the
# `spark` extra, which would ask for 3.5).
COMPAT := .venv-compat
COMPAT_OUT := data/out-compat
# Each Delta Lake release pairs with a few Spark releases: the newest, delta-spark 4.4.1, asks for pyspark <= 4.2.0
# (checked on PyPI, 2026-12-07), and these runs take the newest PySpark 4 (4.3.0 then), which none pairs with. So
# it writes Parquet tables (table_format=parquet), and Delta is tested on Spark 3.5 (make test, test-dbr, test-connect).
COMPAT_FORMAT := parquet
$(COMPAT)/.installed-stamp: settings.ini setup.py
	test -x $(COMPAT)/bin/python || $(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install -q --upgrade pip
	$(COMPAT)/bin/python -m pip install -q 'pyspark>=4,<5'
	$(COMPAT)/bin/python -m pip install -q -e '.[run,test]'
	$(COMPAT)/bin/python -m ipykernel install --sys-prefix --name capstone --display-name "capstone (PySpark 4)" >/dev/null
	touch $@

test-compat: $(COMPAT)/.installed-stamp
	rm -rf $(COMPAT_OUT)
	@$(COMPAT)/bin/python -c "import pyspark; print('PySpark', pyspark.__version__)"
	PYSPARK_PYTHON=$(abspath $(COMPAT)/bin/python) $(COMPAT)/bin/capstone run -p raw_root=$(COMPAT_OUT)/raw -p output_root=$(COMPAT_OUT) \
	  -p run_id=$(SAMPLE_RUN_ID) -p table_format=$(COMPAT_FORMAT)
	$(COMPAT)/bin/python -c "import pyarrow.parquet as pq; n = pq.read_table('$(COMPAT_OUT)/gold/film_soundtrack_links').num_rows; print('gold links on PySpark 4:', n); assert n > 0"

# Databricks Runtime 14.3 LTS parity: Python 3.10 with the runtime's own versions of the libraries the project touches
# (infrastructure/databricks/runtime-14.3-lts.txt), the package installed as a cluster installs it (the wheel, plus
# only what the runtime lacks, with the runtime's versions as constraints, `pip check` clean). Then the cluster's test
# suite (tests/run_suite.py, as the bundle's capstone_tests job runs it) with Spark's reused Python workers as on a
# cluster (tests/coverage_daemon.py saves their coverage); its one sample run goes through the runner here, so every
# notebook runs on the runtime's versions. Its gold tables are compared cell by cell with the dev venv's gold of
# `make test`'s sample run (SAMPLE_OUT; made here only when that run is missing).
DBR := .venv-dbr
DBR_OUT := data/out-dbr
DBR_CONSTRAINTS := infrastructure/databricks/runtime-14.3-lts.txt
SAMPLE_OUT := data/out-test
# tests/conftest.py's run id: the gold tables carry it, so both sides of the comparison have it
SAMPLE_RUN_ID := test-sample
$(DBR)/.runtime-stamp: $(DBR_CONSTRAINTS)
	rm -rf $(DBR)
	PYENV_VERSION=3.10.13 python3.10 -m venv $(DBR)
	$(DBR)/bin/python -m pip install -q --upgrade pip
	$(DBR)/bin/python -m pip install -q -r $(DBR_CONSTRAINTS)
	touch $@

# the package into the parity venv as a cluster installs it: this checkout's wheel, the runtime's versions as constraints
dbr-install: $(DBR)/.runtime-stamp
	rm -rf $(DBR)/dist
	$(DBR)/bin/python -m pip wheel -q --no-deps --wheel-dir $(DBR)/dist .
	$(DBR)/bin/python -m pip uninstall -q -y capstone
	$(DBR)/bin/python -m pip install -q --constraint $(DBR_CONSTRAINTS) "$$(ls $(DBR)/dist/capstone-*.whl)[run,test]"
	$(DBR)/bin/python -m pip check
	$(DBR)/bin/python -m ipykernel install --sys-prefix --name capstone --display-name "capstone (DBR 14.3 parity)" >/dev/null

test-dbr: setup dbr-install
	rm -rf $(DBR_OUT)
	@$(DBR)/bin/python -c "import sys, importlib.metadata as m; print('parity venv: Python', sys.version.split()[0]); \
	  print(*[f'  {d} {m.version(d)}' for d in ('pyspark', 'pandas', 'numpy', 'pyarrow', 'matplotlib', 'ipykernel', \
	  'lxml', 'requests', 'urllib3', 'rapidfuzz', 'requests-ratelimiter', 'fastcore', 'tqdm')], sep='\n')"
	$(DBR)/bin/python tests/spark_cds.py
	PYSPARK_PYTHON=$(abspath $(DBR)/bin/python) $(DBR)/bin/python tests/run_suite.py \
	  --metrics-root $(DBR_OUT)/parity/metrics --run-id parity -- --sample-run runner --sample-root $(abspath $(DBR_OUT))/parity
	test -d $(SAMPLE_OUT)/gold/film_soundtrack_links/_delta_log || $(BIN)/capstone run \
	  --steps extract_tmdb,extract_discogs,prepare,validate,match -p raw_root=$(SAMPLE_OUT)/raw -p output_root=$(SAMPLE_OUT) \
	  -p run_id=$(SAMPLE_RUN_ID)
	$(BIN)/python tests/gold_diff.py $(SAMPLE_OUT)/gold $(DBR_OUT)/parity/gold

# Standard access mode and serverless compute serve Spark through Spark Connect, with no SparkContext. Runtime 14.3's
# standard access mode serves Spark 3.5's Connect API, so this runs Spark 3.5.0's own Connect server with Delta Lake
# 3.1.0 (tests/connect_server.py: the jars `make setup` cached) in the parity venv, with the Connect client's own
# requirements (pyspark[connect], under the runtime's constraints). On it: the same sample pipeline through the runner,
# every notebook a Connect session, its gold compared cell by cell with test-dbr's classic run of the same Spark
# (made here only when that run is missing); then match again as the serverless job runs it, a Python task
# (capstone-task) on the runner's silver tables, its gold compared the same way; then the data-safety tests on a
# Connect session (CONNECT_TESTS): files and tables, kill -9 of a Connect server during a commit, racing writers,
# restore, the shrink guard, a typo'd root, the lock, a lake path no store reaches.
CONNECT_OUT := data/out-connect
CONNECT_TESTS := tests/test_foundations.py tests/test_prepare.py::test_a_raw_root_without_raw_data_stops_before_replacing_staging \
	tests/test_prepare.py::test_a_malformed_search_link_keeps_its_query_under_ansi_mode \
	tests/test_runner.py::test_a_second_run_on_the_same_root_is_refused_naming_the_holder \
	tests/test_task.py::test_a_task_runs_its_stage_and_prints_its_metrics tests/test_task.py::test_a_task_on_a_wrong_raw_root_writes_no_table
CLASSIC_GOLD := $(DBR_OUT)/parity/gold
$(DBR)/.connect-stamp: $(DBR)/.runtime-stamp
	$(DBR)/bin/python -m pip install -q --constraint $(DBR_CONSTRAINTS) 'pyspark[connect]==3.5.0'
	touch $@

test-connect: setup dbr-install $(DBR)/.connect-stamp
	rm -rf $(CONNECT_OUT)
	test -d $(CLASSIC_GOLD)/film_soundtrack_links/_delta_log || $(MAKE) test-dbr
	PYSPARK_PYTHON=$(abspath $(DBR)/bin/python) $(DBR)/bin/python tests/connect_server.py --log $(CONNECT_OUT)/server.log \
	  -- $(MAKE) --no-print-directory connect-steps

# test-connect's steps, with SPARK_REMOTE set to the Connect server it started
connect-steps:
	@case "$$SPARK_REMOTE" in sc://*) ;; *) echo "connect-steps runs under make test-connect"; exit 1;; esac
	$(DBR)/bin/capstone run -p raw_root=$(CONNECT_OUT)/raw -p output_root=$(CONNECT_OUT) -p run_id=$(SAMPLE_RUN_ID)
	$(DBR)/bin/python tests/gold_diff.py $(CLASSIC_GOLD) $(CONNECT_OUT)/gold
	$(DBR)/bin/capstone-task --stage=match --run_id=$(SAMPLE_RUN_ID) --raw_root=$(abspath $(CONNECT_OUT))/raw \
	  --output_root=$(abspath $(CONNECT_OUT)) --gold_root=$(abspath $(CONNECT_OUT))/gold-task
	$(DBR)/bin/python tests/gold_diff.py $(CLASSIC_GOLD) $(CONNECT_OUT)/gold-task
	$(DBR)/bin/python -m pytest -q -p no:cacheprovider $(CONNECT_TESTS)

# Unit, pipeline and end-to-end tests, and the notebooks under nbval, with coverage of capstone/ (Spark workers and
# notebook kernels included). The sample pipeline runs once, through the runner, in the background (tests/conftest.py):
# it executes every cell and assert of the stage notebooks 01-06, so nbval takes the others (00_*, the linkage steps,
# the benchmarks at toy sizes, the deck). It ends with the time per group, from the suite's own JUnit report. Its Spark
# JVMs map a class archive of Spark's jars (tests/spark_cds.py, built once per venv).
STAGE_NBS := $(addprefix nbs/,01_extract_tmdb.ipynb 02_extract_discogs.ipynb 03_prepare.ipynb 04_validate.ipynb \
	05_match.ipynb 06_report.ipynb)
NBVAL_NBS := $(filter-out $(STAGE_NBS),$(wildcard nbs/*.ipynb nbs/tools/*.ipynb))
test: sync-check lint infra-check
	mkdir -p metrics
	rm -f .coverage .coverage.*
	$(BIN)/python tests/spark_cds.py
	$(BIN)/python -m pytest tests $(NBVAL_NBS) --nbval -p no:cacheprovider \
	  --junitxml=metrics/junit.xml \
	  --cov --cov-report=term --cov-report=json:metrics/coverage.json --cov-fail-under=80; \
	status=$$?; $(BIN)/capstone test-summary || true; exit $$status

# Live TMDB extraction against a local server injecting one fault per run: records accounted for, rate, resume time.
bench-extract: setup
	$(BIN)/capstone bench-extract --films 400 --rate 40

# The matcher against a naive matcher on generated, labelled films and masters (SIZES films).
MATCH_SIZES ?= 10000,20000,50000,100000,200000,500000,1000000
bench-match: setup
	$(BIN)/capstone bench-match --sizes $(MATCH_SIZES)

# Prepare's releases step on generated dumps of SIZES releases (real sample proportions, gzip level 6) beside a
# single-process lxml iterparse baseline and the floor (decompress + count tags); then MASTERS masters alone.
INGEST_SIZES ?= 1000000,2000000
INGEST_MASTERS ?= 2600000
bench-ingest: setup
	$(BIN)/capstone bench-ingest --sizes $(INGEST_SIZES) --masters $(INGEST_MASTERS)

# The pipeline as a user runs it (prepare, validate, match, each through the runner) on generated raw zones of SIZES
# films and about as many masters: per stage wall time, share, peak memory of the process tree, rows per second.
bench-pipeline: setup
	mkdir -p metrics
	$(BIN)/capstone bench-pipeline --sizes $(or $(SIZES),125000,250000,500000,1000000) --out metrics/bench_pipeline.json

# The testing-summary deck from the latest run under data/out and the latest test reports under metrics/.
slides: setup
	$(BIN)/capstone slides

clean:
	rm -rf data/out data/out-test data/out-compat data/out-connect data/out-dbr metrics .coverage .coverage.* runs_local
