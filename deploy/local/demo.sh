#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs what is needed, builds celeriac,
# starts a local RabbitMQ and Redis (throwaway, loopback only), runs the worker, sends
# demo tasks from the real Python Celery client and prints their results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash deploy/local/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target celeriac
exec /usr/bin/python3 deploy/local/demo.py "$@"
