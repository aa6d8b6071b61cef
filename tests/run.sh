#!/usr/bin/env bash
# The test command (README "Run the tests", and .ci/run): installs what is needed,
# builds twice (normal, and ASan+UBSan) and runs every test in both builds with ctest.
# Unit tests are pure; integration and e2e tests start their own RabbitMQ, Redis and
# llm-stub on loopback. Set CELERIAC_SKIP_SANITIZE=1 to run the normal build only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="$(nproc 2>/dev/null || echo 2)"

bash deploy/local/install-deps.sh

echo "== house check: pure code includes no I/O header"
if grep -rnE '#include[[:space:]]*[<"](uv\.h|curl/|hiredis/|amqp[._a-z]*\.h)' balancer worker/celery; then
  echo "pure code (balancer/, worker/celery/) must not include I/O headers" >&2
  exit 1
fi

run_build() {
  local dir="$1"; shift
  echo "== configure and build $dir"
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== test $dir"
  ctest --test-dir "$dir" --output-on-failure --timeout 900
}

run_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${CELERIAC_SKIP_SANITIZE:-0}" != "1" ]; then
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_build build-asan -DCMAKE_BUILD_TYPE=Debug -DCELERIAC_SANITIZE=ON -DCELERIAC_BUILD_BENCH=OFF
fi
