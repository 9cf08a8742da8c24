#!/usr/bin/env bash
# Installs the pinned official JavaScript Hub client, @huggingface/hub, that hub's interop test
# runs against the fake Hub (hub/hubtest) to check the fake answers as huggingface.co does and
# that its cache and ours are interchangeable.
#
#   scripts/hubjs.sh    install (idempotent, no network when present), print GGUFY_HUBJS=<package folder>
#
# scripts/test.sh exports what it prints; the test runs this script itself when GGUFY_HUBJS is
# unset. Everything goes under $GGUFY_HUBJS_HOME (default: <repo>/.cache/hubjs, git-ignored).
set -euo pipefail

HFJS_VERSION=2.17.5
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${GGUFY_HUBJS_HOME:-$repo/.cache/hubjs}"
pkg="$home/node_modules/@huggingface/hub"
log() { echo "[hubjs] $*" >&2; }

installed() {
	[ -f "$pkg/dist/index.mjs" ] && [ -f "$pkg/package.json" ] &&
		grep -q "\"version\": \"$HFJS_VERSION\"" "$pkg/package.json"
}

if ! installed; then
	command -v npm >/dev/null || { log "npm is needed (apt-get install npm, or Node.js)"; exit 1; }
	log "installing @huggingface/hub@$HFJS_VERSION into $home"
	mkdir -p "$home"
	# A lock dir keeps two test processes from installing at once.
	until mkdir "$home/.installing" 2>/dev/null; do sleep 1; done
	trap 'rmdir "$home/.installing"' EXIT
	if ! installed; then
		npm install --prefix "$home" --ignore-scripts --no-audit --no-fund --no-save \
			"@huggingface/hub@$HFJS_VERSION" >&2
	fi
	installed || { log "install failed: $pkg/dist/index.mjs missing"; exit 1; }
fi
echo "GGUFY_HUBJS=$pkg"
