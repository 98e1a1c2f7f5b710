# konnektord: the two commands a newcomer needs are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
DATA       ?= ./var
MGMT       ?= 127.0.0.1:8443
LAN_HTTP   ?= 127.0.0.1:8080
LAN_HTTPS  ?= 127.0.0.1:8444
CTEST_ARGS ?=

.PHONY: all deps build build-asan run test test-normal test-asan check-style format soak bench clean

all: build

deps:
	@bash scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKONN_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Starts konnektord in the foreground; it prints the management URL and where the initial
# admin password is. Ctrl-C stops it.
run: build
	@echo "konnektord: data directory $(DATA), management on https://$(MGMT)/"
	@echo "konnektord: first start writes the admin password to $(DATA)/initial-admin-password"
	@echo "konnektord: try   KONCTL_PASSWORD=\$$(cat $(DATA)/initial-admin-password) ./$(BUILD)/konctl --cacert $(DATA)/identity/mgmt-cert.pem --url https://$(MGMT) status"
	@./$(BUILD)/konnektord --data $(DATA) --mgmt $(MGMT) --lan-http $(LAN_HTTP) --lan-https $(LAN_HTTPS)

test: check-style test-normal test-asan

test-normal: build
	@cd $(BUILD) && ctest -j 2 --output-on-failure $(CTEST_ARGS)

test-asan: build-asan
	@cd $(ASAN_BUILD) && ctest -j 2 --output-on-failure $(CTEST_ARGS)

check-style: deps
	@bash scripts/check-style

format: deps
	@git ls-files '*.c' '*.h' | xargs clang-format -i

# Long runs that do not fit `make test`: the crash test with 100 kills, the updater's with 50.
soak: build
	@cd $(BUILD) && KONN_CRASH_RUNS=100 ctest --output-on-failure -R 'integration.test_seclog_crash' --timeout 3600
	@cd $(BUILD) && KONN_UPDATE_CRASH_RUNS=50 ctest --output-on-failure -R 'integration.test_update_slots' --timeout 3600

# Benchmarks print one `name: value unit` line per figure, with ratios against the peers
# measured in the same run (see bench/README.md).
bench: build
	@cmake --build $(BUILD) -j $(JOBS) --target benchmarks
	@cd $(BUILD) && ./bench/bench_seclog
	@/usr/bin/python3 bench/soap/run.py --build $(BUILD)
	@/usr/bin/python3 bench/update/run.py --build $(BUILD)
	@/usr/bin/python3 bench/reset/run.py --build $(BUILD)

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD)
