#!/usr/bin/env bash
# The house rules the README's "Layout" section promises, checked over the tracked files
# (run first by tests/run.sh; takes a second):
#   1. pure code (common/, balancer/, worker/celery/) includes no I/O header;
#   2. every header opens with its banner: a comment right after `#pragma once`;
#   3. no source file (C++, Python, shell) is over 400 lines;
#   4. no raw `new uv_*_t`: a libuv handle is owned by a HandlePtr (worker/uv/uv_handle.h),
#      a request by the struct that carries it, held in a unique_ptr until libuv takes it
#      and taken back in its callback.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

if grep -rnE '#include[[:space:]]*[<"](uv\.h|curl/|hiredis/|amqp[._a-z]*\.h)' common balancer worker/celery; then
  echo "house check: pure code (common/, balancer/, worker/celery/) must not include I/O headers" >&2
  status=1
fi

while IFS= read -r header; do
  first="$(awk '!/^#pragma once/ && !/^[[:space:]]*$/ { print; exit }' "$header")"
  case "$first" in
    //*) ;;
    *) echo "house check: $header does not open with a banner comment" >&2; status=1 ;;
  esac
done < <(git ls-files '*.h')

while read -r lines file; do
  [ "$file" = total ] && continue
  if [ "$lines" -gt 400 ]; then
    echo "house check: $file has $lines lines (over 400: split it by job)" >&2
    status=1
  fi
done < <(git ls-files -z '*.h' '*.cc' '*.py' '*.sh' | xargs -0 wc -l)

if git grep -nE 'new[[:space:]]+uv_[a-z_]+_t\b' -- '*.h' '*.cc'; then
  echo "house check: a raw 'new uv_*_t' (own a handle with uv::makeHandle, a request in a unique_ptr)" >&2
  status=1
fi

exit "$status"
