# Parley's front door.  Two commands matter (README):
#   make run    install deps, build, generate a dev config + certificate under ./var, start parleyd
#   make test   install test deps, build with ASan+UBSan, run unit and integration tests
# Everything else here is a helper for those two.

BUILD      ?= build
TESTBUILD  ?= build-test
PYTHON     ?= /usr/bin/python3
VAR        ?= var

.PHONY: all deps test-deps build build-test run test unit integration bench clean docs

all: build

deps:
	@bash scripts/install-deps.sh

test-deps:
	@bash scripts/install-deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized -Dtests=disabled

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(TESTBUILD)/build.ninja:
	meson setup $(TESTBUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled -Dfuzz=enabled

build-test: test-deps $(TESTBUILD)/build.ninja
	ninja -C $(TESTBUILD)

run: build
	@bash scripts/dev-setup.sh $(BUILD) $(VAR)
	@echo
	@echo "Starting parleyd in the foreground (Ctrl-C to stop)."
	exec $(BUILD)/parleyd -c $(VAR)/parley.yml

test: build-test
	$(MAKE) --no-print-directory unit integration

# The fuzz suite replays the seed corpora through every fuzz target (with
# gcc the targets are linked with a replay driver: seconds, deterministic;
# real fuzzing is scripts/fuzz-smoke.sh with clang, docs/fuzzing.md).
unit:
	meson test -C $(TESTBUILD) --suite unit --suite fuzz --print-errorlogs

integration:
	PARLEY_BUILD=$(abspath $(TESTBUILD)) $(PYTHON) -m pytest -q tests/integration

# Parley / ejabberd / Prosody side by side (issue 7, docs/benchmarks.md).
# Needs root (ejabberd runs as its own user); BENCH_ARGS go to bench/run.py.
bench: deps $(BUILD)/build.ninja
	@bash bench/install-bench-deps.sh
	ninja -C $(BUILD)
	$(PYTHON) bench/run.py $(BENCH_ARGS)

docs: build
	$(BUILD)/parleyd --config-reference > docs/configuration.md
	$(BUILD)/parleyd --commands-reference > docs/admin.md

clean:
	rm -rf $(BUILD) $(TESTBUILD)
