#include "worker/app/pipeline/eta_scheduler.h"

#include <utility>

namespace celeriac::worker::app::pipeline {

EtaScheduler::EtaScheduler(common::Dispatcher& dispatcher, Due due)
    : dispatcher_(dispatcher), due_(std::move(due)) {}

EtaScheduler::~EtaScheduler() { clear(); }

void EtaScheduler::hold(std::unique_ptr<Job> job, std::chrono::milliseconds delay) {
  const JobId id = job->id;
  const common::TimerId timer = dispatcher_.schedule(delay, [this, id] {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    std::unique_ptr<Job> job_due = std::move(it->second.job);
    held_.erase(it);
    due_(std::move(job_due));
  });
  held_.emplace(id, Held{std::move(job), timer});
}

std::vector<std::unique_ptr<Job>> EtaScheduler::take(const std::function<bool(const Job&)>& pick) {
  std::vector<std::unique_ptr<Job>> taken;
  for (auto it = held_.begin(); it != held_.end();) {
    if (pick(*it->second.job)) {
      dispatcher_.cancel(it->second.timer);
      taken.push_back(std::move(it->second.job));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  return taken;
}

void EtaScheduler::clear() {
  for (auto& [id, held] : held_) dispatcher_.cancel(held.timer);
  held_.clear();
}

void EtaScheduler::forEach(const std::function<void(const Job&)>& visit) const {
  for (const auto& [id, held] : held_) visit(*held.job);
}

}  // namespace celeriac::worker::app::pipeline
