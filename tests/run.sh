#!/usr/bin/env bash
# The test command (README "Run the tests", and .ci/run): installs what is needed,
# runs each libFuzzer target for a minute (tests/fuzz/run.sh), builds twice (Release, the
# configuration users build, and ASan+UBSan) and runs every test in both builds with ctest.
# Unit tests are pure; integration and e2e tests start their own RabbitMQ, Redis and
# llm-stub on loopback. Set CELERIAC_SKIP_SANITIZE=1 to run the normal build only.
#
# Time (CI's limit is 40 minutes on 2 cores): each server test starts its own servers on
# their own ports, node names and directories, and mostly waits (on RabbitMQ, timers,
# restarts), so ctest runs two per core at once. The builds run alone: tests that share
# the CPU with a compiler ran up to ten times slower. Fuzzing takes only what the rest
# leaves idle.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="$(nproc 2>/dev/null || echo 2)"

bash deploy/local/install-deps.sh

echo "== [${SECONDS}s] house check: pure code includes no I/O header, headers open with a banner, no file over 400 lines, no raw new uv_*_t"
bash tests/house_check.sh

# Fuzzing is CPU work with no deadline of its own: once its targets are built, it runs
# in the background and soaks up the CPU the server tests leave idle while they wait; its
# result is checked at the end. Its build runs in the foreground like the others: built
# in the background, it got so little CPU that it finished last (CI: 2336 s of a 2647 s
# run).
fuzz_pid=""
fuzz_log="$(mktemp)"
stop_fuzzing() {
  # Its own process group (setsid), so the fuzzers go with it.
  [ -n "$fuzz_pid" ] && kill -TERM -- "-$fuzz_pid" 2>/dev/null || true
  rm -f "$fuzz_log"
}
trap stop_fuzzing EXIT
# Runs "$@" in the background in its own session at the lowest priority. With the
# kernel's autogroup scheduling (on by default in Debian), each session is one group
# and groups share the CPU fairly whatever their processes' nice: a `setsid nice -n 19`
# job took as much CPU as the foreground's two busy loops together. Setting the new
# group's own nice (/proc/self/autogroup) makes it take only what the foreground leaves.
in_background_at_lowest_priority() {
  setsid nice -n 19 bash -c 'echo 19 > /proc/self/autogroup 2>/dev/null || true; exec "$@"' \
    background "$@" &
}
start_fuzzing() {
  echo "== [${SECONDS}s] fuzz: every libFuzzer target for ${CELERIAC_FUZZ_SECONDS:-60} s, in the background"
  CELERIAC_FUZZ_SKIP_BUILD=1 in_background_at_lowest_priority \
    bash tests/fuzz/run.sh "${CELERIAC_FUZZ_SECONDS:-60}" >"$fuzz_log" 2>&1
  fuzz_pid=$!
}

build() {
  local dir="$1"; shift
  echo "== [${SECONDS}s] configure and build $dir"
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}
# A failing test phase does not stop the run: the later phases still run, so one run
# reports every failure; the exit status is the first failure's.
failed=()
first_status=0
note_status() {  # phase-name status
  if [ "$2" != 0 ]; then
    failed+=("$1")
    [ "$first_status" != 0 ] || first_status="$2"
  fi
}
record() {  # phase-name command...
  local name="$1" status=0; shift
  "$@" || status=$?
  note_status "$name" "$status"
}
unit_tests() {
  echo "== [${SECONDS}s] test $1: unit tests (pure: no servers, no clock, so they run in parallel)"
  record "$1 unit tests" ctest --test-dir "$1" --output-on-failure --timeout 900 -L unit -j"$jobs"
}
server_tests() {
  echo "== [${SECONDS}s] test $1: llm-stub, integration and e2e tests (real servers, $((jobs * 2)) at a time)"
  record "$1 server tests" \
    ctest --test-dir "$1" --output-on-failure --timeout 900 -LE "${2:-unit}" -j"$((jobs * 2))"
}

sanitize=1
[ "${CELERIAC_SKIP_SANITIZE:-0}" = "1" ] && sanitize=0
# A unity build: sanitized code compiles slowly (ASan+UBSan at -O0 nearly doubles a
# file's time), and one unity source of eight files parses the shared headers and
# instantiates the shared templates once instead of eight times (a third of the CPU
# time). Missing includes still show: the Release tree builds each file alone.
asan_args=(-DCMAKE_BUILD_TYPE=Debug -DCELERIAC_SANITIZE=ON -DCELERIAC_BUILD_BENCH=OFF
  -DCMAKE_UNITY_BUILD=ON)
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

build build -DCMAKE_BUILD_TYPE=Release
echo "== [${SECONDS}s] build the libFuzzer targets (clang, build-fuzz/)"
fuzz_built=0
CELERIAC_FUZZ_BUILD_ONLY=1 bash tests/fuzz/run.sh && fuzz_built=1
unit_tests build
[ "$fuzz_built" = 1 ] && start_fuzzing
server_tests build

if [ "$sanitize" = 1 ]; then
  build build-asan "${asan_args[@]}"
  unit_tests build-asan
  # The deployment artifacts' checks (label deploy: manifests, rules, image, install,
  # fleet) test files and the Release build users install, not memory safety: once.
  server_tests build-asan "unit|deploy"
fi

echo "== [${SECONDS}s] fuzz results (ran in the background)"
fuzz_status=0
if [ "$fuzz_built" = 1 ]; then
  wait "$fuzz_pid" || fuzz_status=$?
  fuzz_pid=""
  cat "$fuzz_log"
else
  echo "the fuzz targets did not build" >&2
  fuzz_status=1
fi
note_status fuzzing "$fuzz_status"

if [ "${#failed[@]}" != 0 ]; then
  echo "== [${SECONDS}s] FAILED: ${failed[*]}" >&2
  exit "$first_status"
fi
echo "== [${SECONDS}s] all tests passed"
