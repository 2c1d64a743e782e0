#!/usr/bin/env bash
# Proves ci/gitlab-ci.perf.yml by running its jobs, as a runner would, with gitlab-ci-local
# (--force-shell-executor: no docker) on a clean clone of this checkout's HEAD:
#   perf-smoke (merge request)  passes: exit 0, the verdict, JUnit and HTML report in
#                               _artifacts/ where the template keeps them
#   perf-smoke, regressed       ROUTER_TEST_SLOWDOWN_ITERS=870 (about +30% work per request):
#                               the job fails with the gate's exit 1, and the JUnit report
#                               carries the failing rule
#   --nightly                   perf-nightly twice, the second night fetching the first's
#                               history as GitLab would (the artifacts API, served here from
#                               loopback): a history of two runs that perf-history reads
#   --gate                      perf-gate (push to the default branch, cp1): passes
# The clone shares this checkout's target directory and cargo home, so nothing is built or
# downloaded twice (the gate finds its workspace from where it runs, not from where xtask was
# built). While it runs, do not build in the checkout: cargo's freshness is by file times, and
# the clone's build of a file the checkout has changed lands in the same target directory.
# Usage: ci/prove-gitlab.sh [--gate] [--nightly [--nightly-workload W] [--nightly-trials N]]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
nightly=0
gate=0
# The nightly job's own default is cp1 with 10 trials (about 5 minutes); the proof of its
# history keeping runs the quick workload with its 5 trials unless told otherwise.
nightly_workload=quick
nightly_trials=5
while [[ $# -gt 0 ]]; do
    case "$1" in
    --nightly) nightly=1 ;;
    --gate) gate=1 ;;
    --nightly-workload)
        nightly_workload="$2"
        shift
        ;;
    --nightly-trials)
        nightly_trials="$2"
        shift
        ;;
    *)
        echo "prove-gitlab: unknown argument $1 (expected --nightly, --gate, --nightly-workload W, --nightly-trials N)" >&2
        exit 2
        ;;
    esac
    shift
done

tools="$(bash "$root/ci/tools/install.sh")"
gcl="$tools/node_modules/.bin/gitlab-ci-local"
work="$(mktemp -d)"
server_pid=""
differs=()
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    if [[ ${#differs[@]} -gt 0 ]]; then touch "${differs[@]}"; fi
    rm -rf "$work"
}
trap cleanup EXIT

clone="$work/clone"
git clone --quiet "$root" "$clone"
cd "$clone"
# gitlab-ci-local derives the project's path from origin's URL and wants a forge's form; the
# clone never fetches from it (it has the whole history).
git remote set-url origin git@gitlab.invalid:perf/router.git
# cargo decides freshness by modification times: a file of the clone whose content is the
# checkout's gets the checkout's time, so the shared target directory's builds stay fresh
# (a fresh clone's newer times would rebuild the router, loadgen and xtask here, and then again
# in the checkout); a file that differs (uncommitted changes) keeps its new time and is
# rebuilt here, as it must be, and is touched in the checkout when this ends, or the
# checkout's next build would take the clone's build for its own.
while IFS= read -r -d '' f; do
    if [[ -f "$root/$f" ]] && cmp -s "$root/$f" "$f"; then
        touch -r "$root/$f" "$f"
    elif [[ -f "$root/$f" ]]; then
        differs+=("$root/$f")
    fi
done < <(git ls-files -z)
printf 'include:\n  - local: ci/gitlab-ci.perf.yml\n' >.gitlab-ci.yml
# On a real runner neither is in the work tree; here they must not make it dirty (the
# nightly ratchet refuses to bump from a dirty tree).
printf '.gitlab-ci.yml\n.gitlab-ci-local/\n' >>.git/info/exclude

target="${CARGO_TARGET_DIR:-$root/target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
failures=0

fail() {
    echo "prove-gitlab: FAIL: $*" >&2
    failures=$((failures + 1))
}

# run_job LOG JOB [gitlab-ci-local args...]: runs one job; its output goes to LOG and to
# stderr. The job's own exit code is read from the log (an allowed failure leaves
# gitlab-ci-local's exit code at 0); prints it.
run_job() {
    local log="$1" job="$2"
    shift 2
    local start=$SECONDS
    "$gcl" --force-shell-executor --no-color --max-job-name-padding 0 \
        --variable "CARGO_TARGET_DIR=$target" --variable "CARGO_HOME=$cargo_home" \
        "$@" "$job" >"$log" 2>&1 || true
    sed 's/^/    /' "$log" | tail -n 40 >&2
    echo "prove-gitlab: $job took $((SECONDS - start)) s" >&2
    # "perf-smoke finished in 37 s  WARN 1" (an allowed failure, exit 1), "... FAIL 3",
    # or no code at all when the job passed.
    local line code
    line="$(grep -E "^$job finished in " "$log" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        code=unknown
    elif [[ "$line" =~ (WARN|FAIL)\ +([0-9]+) ]]; then
        code="${BASH_REMATCH[2]}"
    else
        code=0
    fi
    echo "$code"
}

newest() { # newest GLOB: the newest file matching it, or nothing
    # shellcheck disable=SC2086
    ls -t $1 2>/dev/null | head -n 1
}

mr=(--variable CI_PIPELINE_SOURCE=merge_request_event)

echo "prove-gitlab: perf-smoke on a clean clone of $(git rev-parse --short HEAD)" >&2
code="$(run_job "$work/smoke.log" perf-smoke "${mr[@]}")"
junit="$(newest "_artifacts/perf_gate_*.junit.xml")"
[[ "$code" == 0 ]] || fail "perf-smoke exited $code, expected 0"
[[ -n "$junit" ]] || fail "perf-smoke left no _artifacts/perf_gate_*.junit.xml"
[[ -n "$junit" ]] && grep -q "<failure" "$junit" && fail "perf-smoke's JUnit report has a failure: $junit"
[[ -n "$(newest "_artifacts/perf_report_*.html")" ]] || fail "perf-smoke left no HTML report"
[[ -n "$(newest "_artifacts/perf_gate_*.json")" ]] || fail "perf-smoke left no verdict JSON"
rm -rf _artifacts

echo "prove-gitlab: perf-smoke with a regressed router (ROUTER_TEST_SLOWDOWN_ITERS=870)" >&2
code="$(run_job "$work/smoke-regressed.log" perf-smoke "${mr[@]}" \
    --variable ROUTER_TEST_SLOWDOWN_ITERS=870)"
junit="$(newest "_artifacts/perf_gate_*.junit.xml")"
[[ "$code" == 1 ]] || fail "regressed perf-smoke exited $code, expected 1"
if [[ -z "$junit" ]]; then
    fail "regressed perf-smoke left no JUnit report"
elif ! grep -q "<failure" "$junit"; then
    fail "regressed perf-smoke's JUnit report shows no failure: $junit"
else
    failed="$(grep -B1 '<failure' "$junit" | grep -oE '<testcase name="[^"]*"' | cut -d'"' -f2 | tr '\n' ' ')"
    echo "prove-gitlab: the JUnit report fails: $failed" >&2
    # The knob adds work per request: the instruction count is the rule that must catch it.
    [[ " $failed " == *" instructions_per_req "* ]] \
        || fail "regressed perf-smoke's JUnit report does not fail instructions_per_req: $failed"
fi
rm -rf _artifacts

if [[ "$gate" == 1 ]]; then
    echo "prove-gitlab: perf-gate (push to the default branch)" >&2
    code="$(run_job "$work/gate.log" perf-gate --variable CI_PIPELINE_SOURCE=push)"
    [[ "$code" == 0 ]] || fail "perf-gate exited $code, expected 0"
    rm -rf _artifacts
fi

if [[ "$nightly" == 1 ]]; then
    # What GitLab's artifacts API would answer for the previous night: a loopback server over
    # a directory that gets the first night's perf/history.jsonl.
    served="$work/served"
    mkdir -p "$served"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    python3 -m http.server --bind 127.0.0.1 --directory "$served" "$port" >/dev/null 2>&1 &
    server_pid=$!
    url="http://127.0.0.1:$port/history.jsonl"
    sched=(--variable CI_PIPELINE_SOURCE=schedule --variable "PERF_HISTORY_URL=$url"
        --variable "PERF_NIGHTLY_WORKLOAD=$nightly_workload"
        --variable "PERF_NIGHTLY_TRIALS=$nightly_trials")
    for night in 1 2; do
        echo "prove-gitlab: perf-nightly, night $night" >&2
        rm -f perf/history.jsonl
        code="$(run_job "$work/nightly-$night.log" perf-nightly "${sched[@]}")"
        [[ "$code" == 0 ]] || fail "perf-nightly (night $night) exited $code, expected 0"
        runs="$(wc -l <perf/history.jsonl 2>/dev/null || echo 0)"
        [[ "$runs" == "$night" ]] || fail "after night $night the history has $runs run(s)"
        [[ -f public/index.html ]] || fail "perf-nightly (night $night) left no public/index.html"
        cp perf/history.jsonl "$served/history.jsonl" 2>/dev/null || true
        rm -rf _artifacts public
    done
    grep -q "history carried over: 1 run(s)" "$work/nightly-2.log" \
        || fail "night 2 did not fetch night 1's history"
    read="$(cargo xtask perf-history --history perf/history.jsonl 2>&1)" || fail "perf-history failed"
    echo "$read" | grep -q "2 run(s)" || fail "perf-history does not read two runs: $read"
    echo "$read" | sed 's/^/    /' >&2
fi

if [[ "$failures" -gt 0 ]]; then
    echo "prove-gitlab: $failures check(s) failed" >&2
    exit 1
fi
echo "prove-gitlab: the GitLab template's jobs ran as documented" >&2
