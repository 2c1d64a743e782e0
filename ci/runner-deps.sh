#!/bin/sh
# Installs what the perf gate needs on a stock CI runner, with the runner's package manager:
#   valgrind      counts instructions (callgrind) where the runner has no hardware counters
#                 (GitHub's ubuntu-latest, GitLab's SaaS runners and the `rust:` images have
#                 none); where a PMU exists, `--counters auto` still prefers it
#   strace        counts the router's system calls per request beside the instructions
#   nats-server   with --nats (or PERF_NATS=1): the NATS workloads and scenarios
# Anything already on PATH is left alone, so a prepared runner pays nothing.
#
# Usage: ci/runner-deps.sh [--nats]
# Cost on a runner that has neither: one package index update and the install, about 15-30 s
# (apt-get, Debian/Ubuntu); see perf/README.md, "In CI".
set -eu

nats="${PERF_NATS:-0}"
for arg in "$@"; do
    case "$arg" in
    --nats) nats=1 ;;
    *)
        echo "runner-deps: unknown argument $arg (expected --nats)" >&2
        exit 2
        ;;
    esac
done

need=""
command -v valgrind >/dev/null 2>&1 || need="$need valgrind"
command -v strace >/dev/null 2>&1 || need="$need strace"
if [ "$nats" = 1 ]; then
    command -v nats-server >/dev/null 2>&1 || need="$need nats-server"
fi
if [ -z "$need" ]; then
    echo "runner-deps: nothing to install: what the gate needs is already on PATH"
    exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "runner-deps: installing$need"
if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # $need is a list of package names
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
elif command -v dnf >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    $sudo dnf install -y $need
elif command -v apk >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    $sudo apk add --no-cache $need
else
    echo "runner-deps: no apt-get, dnf or apk on this runner: install$need yourself" >&2
    exit 2
fi
