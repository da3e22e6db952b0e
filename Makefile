# lossctl: `make demo` installs and runs on the sample data; `make test` installs and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lossctl-installed

.PHONY: install demo test test-slow fuzz bench lint docs sample-data torch clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lossctl needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/lossctl eval sample_data/regression.csv --loss mse,rmse,mae,huber --format table
	$(BIN)/lossctl eval sample_data/binary.parquet --loss bce,bce_logits,hinge --format table
	$(BIN)/lossctl eval sample_data/multiclass.csv --loss cce,softmax_ce --format table
	$(BIN)/lossctl eval sample_data/binary_preds.csv --labels sample_data/binary_labels.csv --key id --loss bce --format json

test: install lint
	$(BIN)/python -m pytest -m "not slow" -n auto

# Long checks (10^8-sample summation accuracy, longer property runs).
test-slow: install
	$(BIN)/python -m pytest -m slow

# A long fuzz run of the readers and the CLI (5000 seeded cases; LOSSCTL_FUZZ_LONG_CASES to change).
fuzz: install
	$(BIN)/python -m pytest -m slow tests/test_fuzz.py

# A representative benchmark (under five minutes on 2 cores); see README "Performance".
# float64 at 10^5 and 10^7 rows; float32 at 10^7; softmax_ce with K = 1000 classes at 10^5 rows (10^8 values).
bench: install
	$(BIN)/lossctl bench --size 1e5,1e7 --loss mse,mae,huber,pseudo_huber,hinge,squared_hinge,bce,bce_logits,log_cosh,msle,softmax_ce --format table
	$(BIN)/lossctl bench --size 1e7 --dtype float32 --loss mse,huber,hinge,bce,bce_logits,msle --format table
	$(BIN)/lossctl bench --size 1e5 --classes 1000 --loss softmax_ce --format table

lint: install
	$(BIN)/ruff check lossctl tests scripts benchmarks
	$(BIN)/ruff format --check lossctl tests scripts benchmarks

# Optional reference frameworks for the tests (skipped when absent). torch 2.13.0 is a local CPU wheel here.
torch: install
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0 scikit-learn

docs: install
	$(BIN)/python -m lossctl.docs > docs/losses.md

# Regenerate sample_data/ (needs scikit-learn).
sample-data: install
	$(BIN)/pip install --quiet --disable-pip-version-check scikit-learn
	$(BIN)/python scripts/make_sample_data.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
