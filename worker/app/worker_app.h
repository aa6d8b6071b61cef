#pragma once
// WorkerApp: wires the loop, the broker connection, the result store, the task
// registry and the pipeline, and owns the shutdown order.
//
// Shutdown (SIGTERM, or the first SIGINT), as Celery's warm shutdown:
//   1. stop starting tasks and cancel the consumers (un-started deliveries stay
//      unacked and return to the queue when the connection closes);
//   2. let running tasks finish and their results be stored, up to --shutdown-grace;
//   3. flush pending acks, close the broker connection, close Redis, exit 0.
// A second SIGINT or SIGTERM skips to 3 at once (cold): whatever was not acked is
// redelivered, so nothing is lost either way.
// Loop thread only; run() returns the process exit code (2 when it cannot start: a bad
// configuration is reported by run() itself, as "cannot start: ...").

#include <memory>

#include "worker/app/worker_config.h"

namespace celeriac::worker::app {

class WorkerApp {
 public:
  explicit WorkerApp(WorkerConfig config);
  ~WorkerApp();
  WorkerApp(const WorkerApp&) = delete;
  WorkerApp& operator=(const WorkerApp&) = delete;

  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace celeriac::worker::app
