#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs what is needed, builds celeriac and
# the llm-stub backend, starts a local RabbitMQ, Redis and stub (throwaway, loopback
# only), runs the worker with the LLM tasks, sends an analysis and a response
# generation from the real Python Celery client and prints both results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash deploy/local/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target celeriac llm-stub
exec /usr/bin/python3 deploy/local/demo.py "$@"
