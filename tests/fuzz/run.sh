#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, -DCELERIAC_FUZZ=ON) and runs each
# for a fixed time, one after the other, failing on the first crash, leak, sanitizer
# report or timeout. Prints each target's executions, coverage and corpus size.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60, every target)
#
# Before fuzzing, every input under tests/fuzz/crashers/<target>/ is replayed once: a
# crash found earlier stays fixed. The working corpus grows in build-fuzz/corpus/
# (kept between runs, never checked in); the checked-in seeds (tests/fuzz/seeds/, see
# make_seeds.py) and fixture folders are read-only inputs. A crashing input is written
# to build-fuzz/artifacts/ and the command to replay it is printed.
# Environment: CELERIAC_FUZZ_BUILD_DIR (default build-fuzz), CELERIAC_FUZZ_JOBS (build
# parallelism, default nproc), CELERIAC_FUZZ_SKIP_BUILD=1 (use the binaries as built),
# CELERIAC_FUZZ_BUILD_ONLY=1 (build, run nothing: tests/run.sh builds in the foreground
# and fuzzes in the background).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$PWD"
seconds="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] ||
  targets=(message_decoder_fuzz python_json_fuzz config_loader_fuzz provider_codec_fuzz rate_limit_fuzz)
build_dir="${CELERIAC_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${CELERIAC_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Read-only seed folders per target, beside tests/fuzz/seeds/<name>.
extra_seeds() {
  case "$1" in
    python_json_fuzz) echo "$root/schemas/fixtures/tasks" ;;
    config_loader_fuzz) echo "$root/balancer/config" ;;
  esac
}

start=$SECONDS
if [ "${CELERIAC_FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  echo "== configure and build $build_dir (clang, libFuzzer, ASan+UBSan)"
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCELERIAC_FUZZ=ON -DCELERIAC_BUILD_TESTS=OFF \
    -DCELERIAC_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" -j"$jobs" --target "${targets[@]}"
fi
build_seconds=$((SECONDS - start))
if [ "${CELERIAC_FUZZ_BUILD_ONLY:-0}" = 1 ]; then
  echo "== fuzz targets built in ${build_seconds}s"
  exit 0
fi

# Leaks are failures; UBSan already aborts (-fno-sanitize-recover=all).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

summary=()
status=0
for target in "${targets[@]}"; do
  name="${target%_fuzz}"
  binary="$build_dir/tests/fuzz/$target"
  corpus="$build_dir/corpus/$name"
  artifacts="$build_dir/artifacts/$name/"
  log="$build_dir/logs/$name.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  crashers=(tests/fuzz/crashers/"$name"/*)
  if [ -e "${crashers[0]}" ]; then
    echo "== $target: replaying ${#crashers[@]} input(s) from tests/fuzz/crashers/$name"
    if ! "$binary" -runs=1 "${crashers[@]}" >"$log.replay" 2>&1; then
      tail -n 40 "$log.replay"
      echo "!! $target: a known crasher crashes again (full log: $log.replay)" >&2
      summary+=("$(printf '%-22s %s' "$target" "FAILED: known crasher crashes")")
      status=1
      continue
    fi
  fi
  seeds=(tests/fuzz/seeds/"$name")
  extra="$(extra_seeds "$target")"
  [ -n "$extra" ] && seeds+=("$extra")
  echo "== $target: ${seconds}s (corpus $corpus, seeds ${seeds[*]})"
  run_status=0
  # The first corpus folder receives new inputs; the seed folders are only read.
  "$binary" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="tests/fuzz/dicts/$name.dict" -artifact_prefix="$artifacts" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1 || run_status=$?
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
  [ -n "$done_line" ] || done_line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  cov="$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/cov \1  ft \2  corpus \3/p' <<<"$done_line")"
  if [ "$run_status" != 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|terminate called|what\(\)' "$log" | head -n 20 || true
    tail -n 60 "$log"
    unit="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | head -n 1)"
    echo "!! $target failed (exit $run_status); log: $log" >&2
    [ -n "$unit" ] && echo "!! replay: $binary $unit" >&2
    summary+=("$(printf '%-22s FAILED (exit %s) %s' "$target" "$run_status" "${unit:-}")")
    status=1
    continue
  fi
  line="$(printf '%-22s %10s execs %8s exec/s  %s' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}")"
  echo "$line"
  summary+=("$line")
done

echo "== fuzz summary (${seconds}s per target; build ${build_seconds}s, total $((SECONDS - start))s)"
printf '%s\n' "${summary[@]}"
exit "$status"
