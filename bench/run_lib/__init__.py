"""bench/run's modules: servers, contenders, load, workloads, report (see bench/run)."""
