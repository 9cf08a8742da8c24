#!/usr/bin/env bash
# Speed and memory of ggufy against llama.cpp, measured in the same run on a synthetic checkpoint
# (see BENCHMARKS.md):
#
#   scripts/bench.sh [-size 2G] [-dir /tmp/ggufy-bench] [-threads N] [-keep] [-- BENCH FLAGS]
#
# It installs the pinned llama.cpp with its source tree (convert_hf_to_gguf.py), builds ggufy and
# bench/llamaquant (llama_model_quantize through cgo), generates the checkpoint DIR/llama-SIZE
# (kept for the next run; -keep also keeps the GGUF outputs), then runs go run ./bench: the table
# goes to stdout, the JSON report to DIR/llama-SIZE.bench/bench.json. Needs Debian's
# python3-torch, python3-numpy, python3-sentencepiece for llama.cpp's converter.
# It measures the checkout it runs from, others' uncommitted work included: to measure a commit,
# run it from a worktree (git worktree add /tmp/wt HEAD; GGUFY_LLAMACPP=$PWD/.cache/llamacpp
# /tmp/wt/scripts/bench.sh). Bench flags: -bench convert,onecmd,quantize -variants Q4_K_M,...
# -quant Q4_K_M,Q8_0 (go run ./bench -h).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
size=2G
dir="${TMPDIR:-/tmp}/ggufy-bench"
threads="$(nproc)"
keep=()
while [ $# -gt 0 ]; do
	case "$1" in
	-size) size="$2"; shift 2 ;;
	-dir) dir="$2"; shift 2 ;;
	-threads) threads="$2"; shift 2 ;;
	-keep) keep=(-keep); shift ;;
	--) shift; break ;;
	*) echo "usage: scripts/bench.sh [-size 2G] [-dir DIR] [-threads N] [-keep] [-- bench flags]" >&2; exit 2 ;;
	esac
done
log() { echo "[bench] $*" >&2; }

cd "$repo"
for m in torch numpy sentencepiece; do
	/usr/bin/python3 -c "import $m" 2>/dev/null || {
		log "/usr/bin/python3 lacks $m: apt-get install python3-torch python3-numpy python3-sentencepiece"
		exit 1
	}
done

eval "$(GGUFY_LLAMACPP_SOURCE=1 scripts/llamacpp.sh)"
src="${GGUFY_LLAMACPP:-$repo/.cache/llamacpp}/src"
bin="$dir/bin"
mkdir -p "$bin"
log "building ggufy and bench/llamaquant"
CGO_ENABLED=0 go build -o "$bin/ggufy" ./cmd/ggufy
go build -tags llamacpp -o "$bin/llamaquant" ./bench/llamaquant
go build -o "$bin/bench" ./bench

ckpt="$dir/llama-$size"
if [ ! -f "$ckpt/model.safetensors.index.json" ]; then
	log "generating $ckpt"
	rm -rf "$ckpt"
	go run ./bench/synth -size "$size" -o "$ckpt"
fi

"$bin/bench" -commit "$(git describe --always --dirty 2>/dev/null || echo unknown)" -src "$ckpt" -ggufy "$bin/ggufy" -llamaquant "$bin/llamaquant" \
	-converter "$src/convert_hf_to_gguf.py" -shim bench/convert_hf.py -threads "$threads" "${keep[@]}" "$@"
