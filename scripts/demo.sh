#!/usr/bin/env bash
# The main job on the embedded default: builds ggufy and turns the small trained Llama model in
# testdata/models/tiny-trained into Q4_K_M, Q5_K_M and Q8_0 GGUFs in one pass, validated against
# the original checkpoint on the evaluation text that ships in ggufy, with a report in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-testdata/models/tiny-trained}"
out="${2:-out}"
go build -o bin/ggufy ./cmd/ggufy
bin/ggufy convert "$src" -q Q4_K_M,Q5_K_M,Q8_0 -o "$out" ${GGUFY_DEMO_FLAGS:---eval default}
cat "$out/report.md"
