#!/usr/bin/env bash
# The test command (README "Run the tests", and .ci/run): installs what is needed,
# runs each libFuzzer target for a minute (tests/fuzz/run.sh), builds twice (Release, the
# configuration users build, and ASan+UBSan) and runs every test in both builds with ctest.
# Unit tests are pure; integration and e2e tests start their own RabbitMQ, Redis and
# llm-stub on loopback. Set CELERIAC_SKIP_SANITIZE=1 to run the normal build only.
#
# Time: the servers' tests mostly wait (on RabbitMQ, timers, restarts), so the
# sanitizer tree is compiled meanwhile, in a session of its own (a fair share of the
# CPU beside the tests), and fuzzing takes only what both leave idle.
# CELERIAC_OVERLAP_BUILD=0 builds the sanitizer tree afterwards instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="$(nproc 2>/dev/null || echo 2)"

bash deploy/local/install-deps.sh

echo "== house check: pure code includes no I/O header"
if grep -rnE '#include[[:space:]]*[<"](uv\.h|curl/|hiredis/|amqp[._a-z]*\.h)' balancer worker/celery; then
  echo "pure code (balancer/, worker/celery/) must not include I/O headers" >&2
  exit 1
fi

# Fuzzing is CPU work with no deadline of its own: it runs in the background at the
# lowest priority (nice 19) from here on and soaks up the CPU the server tests leave
# idle while they wait on RabbitMQ, timers and restarts; its result is checked at the
# end. Its own process group (setsid), so it can be stopped with everything in it.
asan_pid=""
fuzz_pid=""
asan_log="$(mktemp)"
fuzz_log="$(mktemp)"
stop_background_build() {
  # Their own process groups (setsid), so the compilers and fuzzers go with them.
  [ -n "$asan_pid" ] && kill -TERM -- "-$asan_pid" 2>/dev/null || true
  [ -n "$fuzz_pid" ] && kill -TERM -- "-$fuzz_pid" 2>/dev/null || true
  rm -f "$asan_log" "$fuzz_log"
}
trap stop_background_build EXIT
# Runs "$@" in the background in its own session at the lowest priority. With the
# kernel's autogroup scheduling (on by default in Debian), each session is one group
# and groups share the CPU fairly whatever their processes' nice: a `setsid nice -n 19`
# job took as much CPU as the foreground's two busy loops together. Setting the new
# group's own nice (/proc/self/autogroup) makes it take only what the foreground leaves.
in_background_at_lowest_priority() {
  setsid nice -n 19 bash -c 'echo 19 > /proc/self/autogroup 2>/dev/null || true; exec "$@"' \
    background "$@" &
}
echo "== fuzz: every libFuzzer target for ${CELERIAC_FUZZ_SECONDS:-60} s (clang, build-fuzz/), in the background"
in_background_at_lowest_priority bash tests/fuzz/run.sh "${CELERIAC_FUZZ_SECONDS:-60}" \
  >"$fuzz_log" 2>&1
fuzz_pid=$!

build() {
  local dir="$1"; shift
  echo "== configure and build $dir"
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}
unit_tests() {
  echo "== test $1: unit tests (pure: no servers, no clock, so they run in parallel)"
  ctest --test-dir "$1" --output-on-failure --timeout 900 -L unit -j"$jobs"
}
server_tests() {
  echo "== test $1: llm-stub, integration and e2e tests (real servers, one at a time)"
  ctest --test-dir "$1" --output-on-failure --timeout 900 -LE "${2:-unit}"
}

sanitize=1
[ "${CELERIAC_SKIP_SANITIZE:-0}" = "1" ] && sanitize=0
asan_args=(-DCMAKE_BUILD_TYPE=Debug -DCELERIAC_SANITIZE=ON -DCELERIAC_BUILD_BENCH=OFF)
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

build build -DCMAKE_BUILD_TYPE=Release
unit_tests build
if [ "$sanitize" = 1 ] && [ "${CELERIAC_OVERLAP_BUILD:-1}" = "1" ]; then
  echo "== build-asan compiles in the background while build's server tests run"
  # Not at the lowest priority: the sanitizer tests wait for this build, so it must get
  # a fair share beside the server tests (its own session is its own autogroup), where
  # fuzzing only gets what both leave idle. Starved, it was still half built when
  # build's server tests ended.
  setsid nice -n 19 bash -c "$(declare -f build); jobs=$jobs; build build-asan ${asan_args[*]}" \
    >"$asan_log" 2>&1 &
  asan_pid=$!
fi
server_tests build
if [ -n "$asan_pid" ]; then
  asan_status=0
  wait "$asan_pid" || asan_status=$?
  asan_pid=""
  cat "$asan_log"
  [ "$asan_status" = 0 ] || { echo "build-asan failed" >&2; exit "$asan_status"; }
fi

if [ "$sanitize" = 1 ]; then
  [ -n "$asan_pid" ] || build build-asan "${asan_args[@]}"
  unit_tests build-asan
  # The deployment artifacts' checks (label deploy: manifests, rules, image, install,
  # fleet) test files and the Release build users install, not memory safety: once.
  server_tests build-asan "unit|deploy"
fi

echo "== fuzz results (ran in the background)"
fuzz_status=0
wait "$fuzz_pid" || fuzz_status=$?
fuzz_pid=""
cat "$fuzz_log"
[ "$fuzz_status" = 0 ] || { echo "fuzzing failed" >&2; exit "$fuzz_status"; }
