#!/usr/bin/env bash
# The fleet of deploy/compose without Docker: a private RabbitMQ (management and
# Prometheus plugins), Redis, the llm-stub, N celeriac replicas sharing one balancer
# config with a key set per replica (each claims its own; with --key-sets below N the
# extra replicas share and say so), and Debian's `prometheus` scraping the replicas,
# RabbitMQ and loading deploy/prometheus/celeriac-rules.yml. Everything runs on
# loopback in a temp dir and is stopped on Ctrl-C or exit.
#
#   deploy/local/fleet.sh                     # 3 replicas, until Ctrl-C
#   deploy/local/fleet.sh -n 4 --key-sets 3   # the 4th replica shares a key set
#   deploy/local/fleet.sh --duration 30       # stop by itself after 30 s
#
# Needs a build (cmake --build build --target celeriac llm-stub; --build-dir to use
# another) and the packages of deploy/packages.txt (rabbitmq-server, redis-server,
# prometheus, python3-yaml).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

replicas=3
key_sets=""
build_dir="$root/build"
duration=0
usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "options: -n|--replicas N  --key-sets K  --build-dir DIR  --duration SECONDS"
}
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--replicas) replicas="$2"; shift 2 ;;
    --key-sets) key_sets="$2"; shift 2 ;;
    --build-dir) build_dir="$(cd "$2" && pwd)"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fleet.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
key_sets="${key_sets:-$replicas}"
celeriac="${CELERIAC_BIN:-$build_dir/worker/celeriac}"
stub_bin="${LLM_STUB_BIN:-$build_dir/tests/support/llm_stub/llm-stub}"
for b in "$celeriac" "$stub_bin"; do
  [ -x "$b" ] || { echo "fleet.sh: $b not built (cmake --build build --target celeriac llm-stub)" >&2; exit 2; }
done
for t in redis-server prometheus /usr/lib/rabbitmq/bin/rabbitmq-server; do
  command -v "$t" >/dev/null || { echo "fleet.sh: $t missing (deploy/local/install-deps.sh)" >&2; exit 2; }
done

run="$(mktemp -d "${TMPDIR:-/tmp}/celeriac-fleet.XXXXXX")"
pids=()       # everything but RabbitMQ, stopped in reverse order
rabbit_up=0
# reserve_ports COUNT: sets $port to the first of COUNT consecutive free loopback ports,
# claimed (flock) in /tmp/celeriac-test-ports until this script and its children end, the
# way tests/support/loopback_ports.py claims them, so a fleet started beside the tests (or
# another fleet) never gets theirs. From below the kernel's ephemeral range: outgoing
# connections and rabbitmqctl's Erlang nodes take ports from that one at any time.
# Not $(command substitution): the locks would go with the subshell.
port_lock_dir=/tmp/celeriac-test-ports
bindable() { /usr/bin/python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null; }
reserve_ports() {
  local count="$1" low high base p fd fds attempt
  read -r low high </proc/sys/net/ipv4/ip_local_port_range
  if ((low - 10000 >= 2000)); then high=$low low=10000; else low=$((high + 1)) high=65536; fi
  mkdir -p "$port_lock_dir" && chmod 1777 "$port_lock_dir" 2>/dev/null || true
  for ((attempt = 0; attempt < 1000; attempt++)); do
    base=$((low + (RANDOM * 32768 + RANDOM) % (high - low - count)))
    fds=()
    for ((p = base; p < base + count; p++)); do
      exec {fd}>>"$port_lock_dir/$p"
      if flock -n "$fd" && bindable "$p"; then fds+=("$fd"); else exec {fd}>&-; break; fi
    done
    if ((${#fds[@]} == count)); then port=$base; return 0; fi
    for fd in "${fds[@]}"; do exec {fd}>&-; done
  done
  echo "fleet.sh: no $count free consecutive loopback ports" >&2
  exit 1
}
wait_port() {  # port seconds (0: one try)
  local i
  for ((i = 0; i <= $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [ "$2" = 0 ] || sleep 0.1
  done
  return 1
}

# RabbitMQ: AMQP, distribution, management, Prometheus, and 8 for rabbitmqctl's nodes
# (its default range, 35672-35682, is shared by every node on the machine).
reserve_ports 12
amqp_port=$port dist_port=$((port + 1)) mgmt_port=$((port + 2)) rprom_port=$((port + 3))
ctl_ports="$((port + 4)) $((port + 11))"
reserve_ports 3
redis_port=$port stub_port=$((port + 1)) prom_port=$((port + 2))
rabbit_env=(HOME="$run/rabbit/home" RABBITMQ_NODENAME="fleet-$amqp_port@localhost"
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port" RABBITMQ_DIST_PORT="$dist_port"
  RABBITMQ_CTL_DIST_PORT_MIN="${ctl_ports% *}" RABBITMQ_CTL_DIST_PORT_MAX="${ctl_ports#* }"
  RABBITMQ_MNESIA_BASE="$run/rabbit/mnesia" RABBITMQ_LOG_BASE="$run/rabbit/log"
  RABBITMQ_ENABLED_PLUGINS_FILE="$run/rabbit/enabled_plugins" RABBITMQ_CONFIG_FILE="$run/rabbit/rabbitmq"
  RABBITMQ_PID_FILE="$run/rabbit/pid" ERL_EPMD_ADDRESS=127.0.0.1
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
rabbitmqctl() { env "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -n "fleet-$amqp_port@localhost" "$@"; }

cleanup() {
  trap - EXIT INT TERM
  echo "fleet.sh: stopping" >&2
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  # Polled, never `wait PID`: after a `wait -n` cut short by a signal, bash 5.2 may wait
  # for an already reaped child forever. Replicas get their --shutdown-grace (30 s).
  for ((i = 0; i < 400; i++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "${rabbit_pid:-}" ]; then
    # setsid made RabbitMQ a process group of its own (id $rabbit_pid): stop the node
    # politely if it came up, then make sure nothing of that group is left.
    if [ "$rabbit_up" = 1 ]; then timeout 60 rabbitmqctl stop >/dev/null 2>&1 || true; fi
    kill -TERM -- "-$rabbit_pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 -- "-$rabbit_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$rabbit_pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 -- "-$rabbit_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "${KEEP_FLEET_DIR:-0}" = 1 ]; then echo "fleet.sh: logs kept in $run" >&2; else rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# RabbitMQ: management UI and per-queue Prometheus metrics (rabbitmq_queue_messages_ready).
mkdir -p "$run/rabbit/home"
echo "[rabbitmq_management,rabbitmq_prometheus]." > "$run/rabbit/enabled_plugins"
cat > "$run/rabbit/rabbitmq.conf" <<CONF
loopback_users = none
management.tcp.port = $mgmt_port
management.tcp.ip = 127.0.0.1
prometheus.tcp.port = $rprom_port
prometheus.tcp.ip = 127.0.0.1
prometheus.return_per_object_metrics = true
CONF
# Its own session: Ctrl-C must not reach the Erlang VM (it would stop in its break
# menu); cleanup stops it with rabbitmqctl.
setsid env "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server > "$run/rabbit.out" 2>&1 &
rabbit_pid=$!
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$run" --save "" --appendonly no \
  > "$run/redis.out" 2>&1 &
pids+=($!)
"$stub_bin" --port "$stub_port" --latency-ms 200 --models gpt-5,gpt-4.1-mini > "$run/llm-stub.out" 2>&1 &
pids+=($!)
for ((i = 0; i < 600; i++)); do
  kill -0 "$rabbit_pid" 2>/dev/null || { echo "fleet.sh: rabbitmq-server exited; $run/rabbit.out" >&2; exit 1; }
  if wait_port "$amqp_port" 0 && rabbitmqctl -q status >/dev/null 2>&1; then rabbit_up=1; break; fi
  sleep 0.2
done
[ "$rabbit_up" = 1 ] || { echo "fleet.sh: RabbitMQ did not come up" >&2; exit 1; }
wait_port "$redis_port" 10 && wait_port "$stub_port" 10 || { echo "fleet.sh: Redis or the stub did not start" >&2; exit 1; }

# One balancer config for every replica: deploy/compose's, pointed at this stub, with
# K key sets (env STUB_API_KEY_<k>).
/usr/bin/python3 - "$root/deploy/compose/fleet-balancer.yaml" "$run/balancer.yaml" \
  "http://127.0.0.1:$stub_port/v1" "$key_sets" <<'PY'
import sys, yaml
src, dst, url, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = yaml.safe_load(open(src))
cfg["endpoints"][0]["url"] = url
cfg["key_sets"] = [{"name": f"stub-{k}", "keys": [{"endpoint": "stub", "alias": f"stub-{k}",
                                                    "env": f"STUB_API_KEY_{k}"}]} for k in range(n)]
yaml.safe_dump(cfg, open(dst, "w"), sort_keys=False)
PY
key_env=()
for ((k = 0; k < key_sets; k++)); do key_env+=("STUB_API_KEY_$k=stub-key-$k"); done

targets=""
for ((r = 1; r <= replicas; r++)); do
  reserve_ports 1
  env "${key_env[@]}" CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:$amqp_port//" \
      CELERY_RESULT_BACKEND="redis://127.0.0.1:$redis_port/0" \
    "$celeriac" worker -Q gpt5-analyzer,response-generator -c 100 -n "replica-$r@%h" \
      --llm-config "$run/balancer.yaml" --shutdown-grace 30 --log-format json \
      --http-port "$port" --http-bind 127.0.0.1 > "$run/replica-$r.log" 2>&1 &
  pids+=($!)
  targets+="${targets:+, }\"127.0.0.1:$port\""
  echo "replica-$r: http://127.0.0.1:$port/metrics  /healthz  /readyz   log $run/replica-$r.log"
done

# Debian's Prometheus: the replicas, RabbitMQ, and the alert rules.
cp "$root/deploy/prometheus/celeriac-rules.yml" "$run/celeriac-rules.yml"
cat > "$run/prometheus.yml" <<PROM
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: [celeriac-rules.yml]
scrape_configs:
  - job_name: celeriac
    static_configs: [{targets: [$targets]}]
  - job_name: rabbitmq
    static_configs: [{targets: ["127.0.0.1:$rprom_port"]}]
PROM
prometheus --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/prometheus-data" \
  --web.listen-address="127.0.0.1:$prom_port" > "$run/prometheus.out" 2>&1 &
pids+=($!)
wait_port "$prom_port" 20 || { echo "fleet.sh: prometheus did not start; $run/prometheus.out" >&2; exit 1; }
# Listening is not ready: until its storage is open Prometheus answers 503 to every API
# call (seen when the machine was busy), so the fleet is "up" only once /-/ready says 200.
/usr/bin/python3 - "$prom_port" <<'PY' || { echo "fleet.sh: prometheus not ready in 60 s; $run/prometheus.out" >&2; exit 1; }
import sys, time, urllib.request
deadline = time.time() + 60
while True:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/-/ready" % sys.argv[1], timeout=5) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.2)
PY

cat <<INFO

celeriac fleet up ($replicas replicas, $key_sets key sets), in $run:
  broker      amqp://guest:guest@127.0.0.1:$amqp_port//   (management UI http://127.0.0.1:$mgmt_port, guest/guest)
  backend     redis://127.0.0.1:$redis_port/0
  llm-stub    http://127.0.0.1:$stub_port/v1
  prometheus  http://127.0.0.1:$prom_port   (targets: /targets, alerts: /alerts)
Send tasks with Python Celery to queues gpt5-analyzer / response-generator on that broker.
Ctrl-C stops everything.
INFO

if [ "$duration" != 0 ]; then
  sleep "$duration"
else
  # Until Ctrl-C, or until a process exits (its log says why).
  while :; do
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && continue
      echo "fleet.sh: process $pid exited; logs in $run" >&2
      KEEP_FLEET_DIR=1
      exit 1
    done
    sleep 1
  done
fi
