"""The fault driver's settings and its log line: the run sizes of each --mode, the mix of
task kinds in the load, the queues, keys and dead-letter names it sets up, and log(),
which stamps every line with the seconds since the driver started (T0). Shared by
fault_driver.py and the driver_*.py modules beside it.
"""

import sys
import time

DEFAULT_SEED = 20240917
KEY_A = "sk-driver-key-a"
KEY_B = "sk-driver-key-b"
TASK_QUEUES = ["celery", "gpt5-analyzer", "response-generator"]
DLX = "driver.dlx"
DEAD = "driver.dead"
CATEGORIES = ["plastic", "paper", "glass", "metal", "food", "general", "hazardous",
              "electronics", "textile", "other"]
IMAGE = "https://example.com/uploads/photo-%d.jpg"

# Sizes. "long" is the full run: a few thousand tasks, Redis down 30 s, every model down
# for 2 minutes. "ci" keeps each kind of fault but shorter, to finish in under 4 minutes
# on a 2-core machine.
MODES = {
    "ci": dict(tasks=900, load_s=135, drain_s=75, kills=1, stops=1, stop_s=12,
               rabbit_restarts=1, redis_outages=1, redis_down_s=10, model_outages=1,
               models_down_s=20, key401_s=20, flood_copies=1, flood_slow=False,
               stub_latency_ms=50, delay_tiers="2s,10s", concurrency=100),
    "long": dict(tasks=4000, load_s=600, drain_s=600, kills=3, stops=2, stop_s=20,
                 rabbit_restarts=2, redis_outages=1, redis_down_s=30, model_outages=1,
                 models_down_s=120, key401_s=60, flood_copies=3, flood_slow=True,
                 stub_latency_ms=150, delay_tiers="2s,10s,30s", concurrency=100),
}
HEARTBEAT_S = 4
# Share of each kind in the load (chains count once here, and as 2-3 ids when sent).
MIX = [("echo", 30), ("echo_countdown", 5), ("sleep", 15), ("analyze", 20), ("generate", 10),
       ("chain_echo", 10), ("chain_llm", 10)]


def log(msg):
    print("[driver %6.1fs] %s" % (time.time() - T0, msg), file=sys.stderr, flush=True)


T0 = time.time()
