#pragma once
// EtaScheduler: jobs held until a due time, each on its own Dispatcher timer.
//
// What for: the TaskPipeline holds a task whose ETA is a few seconds off in memory until
// it is due (each held one raises prefetch by one, so they never starve the window), and
// a rate-limited task until its token is due; it keeps one EtaScheduler for each. When
// a job's time comes it leaves the scheduler and goes to `due` (the ready queue).
// What not: no decision about what to hold or for how long (the pipeline decides: far
// ETAs are parked in a delay tier instead), no prefetch bookkeeping, no I/O of its own.
// Ownership: owns the held jobs and their timers; destroying it, clear() and take()
// cancel the timers. `due` is called from the loop, with the job already removed.
// Loop thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/dispatcher.h"
#include "worker/app/pipeline/job.h"

namespace celeriac::worker::app::pipeline {

class EtaScheduler {
 public:
  using Due = std::function<void(std::unique_ptr<Job>)>;

  EtaScheduler(common::Dispatcher& dispatcher, Due due);
  ~EtaScheduler();
  EtaScheduler(const EtaScheduler&) = delete;
  EtaScheduler& operator=(const EtaScheduler&) = delete;

  // Holds `job` until `delay` from now.
  void hold(std::unique_ptr<Job> job, std::chrono::milliseconds delay);
  [[nodiscard]] std::size_t size() const { return held_.size(); }
  // Takes out every held job `pick` chooses, before its time (their timers cancelled).
  std::vector<std::unique_ptr<Job>> take(const std::function<bool(const Job&)>& pick);
  // Drops every held job (the channel their deliveries came on is gone).
  void clear();
  void forEach(const std::function<void(const Job&)>& visit) const;

 private:
  struct Held {
    std::unique_ptr<Job> job;
    common::TimerId timer = 0;
  };

  common::Dispatcher& dispatcher_;
  Due due_;
  std::unordered_map<JobId, Held> held_;
};

}  // namespace celeriac::worker::app::pipeline
