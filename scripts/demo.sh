#!/usr/bin/env bash
# The main job on the embedded default: builds ggufy and converts the small trained Llama model
# in testdata/models/tiny-trained to GGUF, then shows what it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-testdata/models/tiny-trained}"
out="${2:-out}"
mkdir -p "$out"
go build -o bin/ggufy ./cmd/ggufy
bin/ggufy convert "$src" -o "$out" --outtype f16
bin/ggufy inspect "$out"/*F16.gguf | tail -3
