#!/usr/bin/env bash
# Installs the pinned prebuilt llama.cpp (v0.5.0, ggml 0.25.1) that ggufy's interop tests use as
# the judge: the shared libraries from the npm package @node-llama-cpp/linux-x64@3.22.1 and the
# matching C headers from the llama.cpp source bundle inside node-llama-cpp@3.22.1.
#
#   scripts/llamacpp.sh            install (idempotent, no network when present), print env
#   eval "$(scripts/llamacpp.sh)"  export CGO_CFLAGS/CGO_LDFLAGS/GGUFY_LLAMACPP_LIB for -tags llamacpp
#
# GGUFY_LLAMACPP_VOCAB points at llama.cpp's tokenizer test vocabularies (models/ggml-vocab-*).
# GGUFY_LLAMACPP_SOURCE=1 also keeps the llama.cpp source tree (convert_hf_to_gguf.py, gguf-py) in
# $GGUFY_LLAMACPP/src, even when the libraries are already installed.
# Everything goes under $GGUFY_LLAMACPP (default: <repo>/.cache/llamacpp, git-ignored).
set -euo pipefail

NLC_VERSION=3.22.1
LIB_PKG="@node-llama-cpp/linux-x64"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${GGUFY_LLAMACPP:-$repo/.cache/llamacpp}"
libdir="$home/node_modules/$LIB_PKG/bins/linux-x64"
incdir="$home/include"
log() { echo "[llamacpp] $*" >&2; }

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*) log "the prebuilt llama.cpp libraries exist for linux x86-64 only"; exit 1 ;;
esac

if [ ! -f "$libdir/libllama.v0.5.0.so" ] || [ ! -f "$libdir/libggml-base.so" ]; then
	command -v npm >/dev/null || { log "npm is needed (apt-get install npm, or Node.js)"; exit 1; }
	log "installing $LIB_PKG@$NLC_VERSION into $home"
	mkdir -p "$home"
	npm install --prefix "$home" --ignore-scripts --no-audit --no-fund --no-save \
		"$LIB_PKG@$NLC_VERSION" >&2
	[ -f "$libdir/libllama.v0.5.0.so" ] || { log "install failed: $libdir/libllama.v0.5.0.so missing"; exit 1; }
fi

vocabdir="$home/vocab"
want_src=""
[ -n "${GGUFY_LLAMACPP_SOURCE:-}" ] && [ ! -f "$home/src/convert_hf_to_gguf.py" ] && want_src=1
if [ ! -f "$incdir/llama.h" ] || [ ! -f "$incdir/ggml-cpu.h" ] || [ ! -f "$vocabdir/ggml-vocab-llama-bpe.gguf" ] || [ -n "$want_src" ]; then
	log "unpacking the llama.cpp v0.5.0 headers and tokenizer test vocabularies from node-llama-cpp@$NLC_VERSION"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "node-llama-cpp@$NLC_VERSION" >/dev/null &&
		tar xzf "node-llama-cpp-$NLC_VERSION.tgz" package/llama/gitRelease.bundle &&
		git -c advice.detachedHead=false clone -q package/llama/gitRelease.bundle src) >&2
	mkdir -p "$incdir"
	cp "$tmp"/src/include/*.h "$tmp"/src/ggml/include/*.h "$incdir/"
	# llama.cpp's own tokenizer tests: vocab-only GGUFs with input texts and expected token ids.
	mkdir -p "$vocabdir"
	cp "$tmp"/src/models/ggml-vocab-* "$vocabdir/"
	if [ -n "${GGUFY_LLAMACPP_SOURCE:-}" ]; then
		rm -rf "$home/src" && mv "$tmp/src" "$home/src"
	fi
fi

cat <<ENV
export GGUFY_LLAMACPP_LIB="$libdir"
export GGUFY_LLAMACPP_VOCAB="$vocabdir"
export CGO_ENABLED=1
export CGO_CFLAGS="-I$incdir"
export CGO_LDFLAGS="-L$libdir -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -lggml-base -Wl,-rpath,$libdir"
ENV
