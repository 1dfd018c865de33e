# The two commands: `make run` (boot to the shell) and `make test` (every test).
# Both install what is missing first (scripts/setup.sh, idempotent).
SHELL := /bin/bash
CARGO ?= cargo
export RUSTC_BOOTSTRAP := 1

.PHONY: all setup run test host-test lint qemu-test bench host-bench qemu-bench fmt clean

all: setup

setup:
	@bash scripts/setup.sh

## Host tests: the storage libraries and the kernel's pure logic, plain cargo test.
host-test: setup
	$(CARGO) test --quiet

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --quiet --all-targets -- -D warnings

fmt: setup
	$(CARGO) fmt --all

test: lint host-test qemu-test

## Benchmarks print one `name: value unit` line per figure.
host-bench: setup
	@$(CARGO) bench --quiet -p block 2>/dev/null | grep -E '^[a-z0-9_]+: '
	@$(CARGO) bench --quiet -p content 2>/dev/null | grep -E '^[a-z0-9_]+: '

bench: host-bench qemu-bench

clean:
	$(CARGO) clean
	rm -rf build
