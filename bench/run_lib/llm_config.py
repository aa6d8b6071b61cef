"""celeriac's balancer configs for bench/run's LLM workloads, and the same endpoints as
the plain list the other contenders' hand-written tasks take turns over.

What for: one writer for the three shapes (one endpoint and key; one endpoint with 4
keys and their RPM; three endpoints of one key each), with `--protocol h2` adding the
HTTP/2 endpoint keys (`http2`, `max_connections`, `max_streams_per_connection`) that
the worker understands only once HTTP/2 is merged. Keys are fake stub keys, passed by
environment variable as in production. What not: starting anything.
"""

import os

KEY_ENV = "BENCH_STUB_KEY_%d"


def keys(n):
    """Sets n fake keys in this process's environment (the workers inherit it)."""
    out = []
    for i in range(n):
        value = "sk-bench-%d" % i
        os.environ[KEY_ENV % i] = value
        out.append(value)
    return out


# With --protocol h2, the connections per endpoint; its streams per connection are sized
# so that they carry the workload's whole in-flight level. (A fixed 1,000 streams once
# capped the 5,000-in-flight workload at 4,000 calls: 80 % of the ideal, whatever the
# worker could do.)
H2_CONNECTIONS = 4


def h2_streams_per_connection(in_flight):
    return max(100, -(-in_flight // H2_CONNECTIONS))


def _endpoint(name, url, key_indexes, rpm, protocol, in_flight):
    lines = ["  - name: %s" % name, "    url: %s/v1" % url, "    provider: openai",
             "    models: [gpt-4o]", "    keys:"]
    lines += ["      - {alias: key-%d, env: %s}" % (i, KEY_ENV % i) for i in key_indexes]
    if rpm:
        lines.append("    limits: {gpt-4o: {rpm: %d}}" % rpm)
    if protocol == "h2":
        lines += ["    http2: true", "    max_connections: %d" % H2_CONNECTIONS,
                  "    max_streams_per_connection: %d" % h2_streams_per_connection(in_flight)]
    return lines


def write(directory, stub_url, shape, in_flight, protocol="h1", rpm=0, max_queue_wait=10):
    """shape: "one" (1 endpoint, 1 key), "keys4" (1 endpoint, 4 keys, `rpm` each) or
    "three" (3 endpoints, a key each); in_flight: the most calls the workload keeps open
    (with h2, each endpoint's connections carry that many). Returns (config path,
    [{"url", "key"}])."""
    if shape == "one":
        eps, plain = [("stub", [0])], [0]
    elif shape == "keys4":
        eps, plain = [("stub", [0, 1, 2, 3])], [0, 1, 2, 3]
    else:
        eps, plain = [("stub-a", [0]), ("stub-b", [1]), ("stub-c", [2])], [0, 1, 2]
    values = keys(len(plain))
    body = ["# bench/run: celeriac's balancer for the %s shape" % shape,
            "strategy: round_robin", "timeout: 60", "max_queue_wait: %d" % max_queue_wait,
            "circuit_breaker: {consecutive_failures: 3, cooldown: 5}", "endpoints:"]
    for name, idx in eps:
        body += _endpoint(name, stub_url, idx, rpm, protocol, in_flight)
    body += ["routes:", "  waste_analysis:", "    normal: [gpt-4o]",
             "  response_generation:", "    normal: [gpt-4o]",
             "pricing:", "  gpt-4o: {input: 2.5, output: 10}", ""]
    path = os.path.join(directory, "balancer-%s-%s.yaml" % (shape, protocol))
    with open(path, "w") as f:
        f.write("\n".join(body))
    return path, [{"url": stub_url + "/v1", "key": values[i]} for i in plain]
