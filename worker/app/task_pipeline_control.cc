// TaskPipeline, the remote-control side: what `celery inspect` sees (active,
// reserved, scheduled), revokes and `revoke --terminate`, and the per-task settings
// Celery's control commands change at run time (rate_limit, time_limit) and the pool
// size (pool_grow, pool_shrink, autoscale).

#include "worker/app/task_pipeline.h"

#include "worker/app/pipeline/job_packing.h"

namespace celeriac::worker::app {

using std::chrono::milliseconds;

bool TaskPipeline::revoked(const celery::TaskMessage& m) const {
  return ports_.is_revoked && ports_.is_revoked(m.id);
}

void TaskPipeline::forEachActive(const std::function<void(const JobView&)>& visit,
                                 const std::function<bool(const std::string&)>& wanted) const {
  for (const auto& [id, job] : active_) {
    if (wanted && !wanted(job->message.id)) continue;  // the id is kept when packed
    if (job->message_packed) {  // a long wait keeps only part of it (job_packing.h)
      const celery::TaskMessage whole = pipeline::wholeMessage(*job);
      visit(JobView{whole, job->delivery, job->wall_started, !job->acks_late});
    } else {
      visit(JobView{job->message, job->delivery, job->wall_started, !job->acks_late});
    }
  }
}

void TaskPipeline::forEachReserved(const std::function<void(const JobView&)>& visit) const {
  ready_.forEach([&visit](const std::unique_ptr<Job>& job) {
    visit(JobView{job->message, job->delivery, std::nullopt, false});
  });
  rate_waits_.forEach([&visit](const Job& job) {
    visit(JobView{job.message, job.delivery, std::nullopt, false});
  });
}

void TaskPipeline::forEachScheduled(const std::function<void(const JobView&)>& visit) const {
  eta_holds_.forEach([&visit](const Job& job) {
    visit(JobView{job.message, job.delivery, std::nullopt, false});
  });
}

std::vector<std::string> TaskPipeline::terminate(const std::vector<std::string>& ids) {
  std::vector<JobId> hit;
  std::vector<std::string> terminated;
  for (const auto& [id, job] : active_) {
    if (std::find(ids.begin(), ids.end(), job->message.id) != ids.end()) hit.push_back(id);
  }
  for (const JobId id : hit) {
    // Cancelling ends its LLM call; takeActive() then releases the job as finish() does.
    if (const auto& run = active_.at(id)->run) run->cancel();
    std::unique_ptr<Job> job = takeActive(id);
    terminated.push_back(job->message.id);
    // An early-acked message was acked when it started; acking it again would close
    // the channel (PRECONDITION_FAILED unknown delivery tag).
    settlement_.settleRevoked(*job, "terminated", job->acks_late);
  }
  if (!hit.empty()) pump();
  return terminated;
}

void TaskPipeline::setRateLimit(const std::string& task, const celery::RateLimit& limit) {
  rate_limits_.set(task, limit, dispatcher_.clock().now());
  // Tasks already waiting for a token are re-admitted under the new limit.
  for (auto& job : rate_waits_.take([&task](const Job& j) { return j.message.task == task; })) {
    enqueue(std::move(job));
  }
}

std::optional<std::string> TaskPipeline::describeRateLimit(const std::string& task) const {
  return rate_limits_.describe(task);
}

bool TaskPipeline::waitForRateLimit(std::unique_ptr<Job>& job) {
  const std::string& task = job->message.task;
  const auto now = dispatcher_.clock().now();
  if (rate_limits_.tryTake(task, now)) return false;
  const auto wait = std::max(milliseconds(1),
                             std::chrono::ceil<milliseconds>(rate_limits_.nextAt(task, now) - now));
  rate_waits_.hold(std::move(job), wait);
  return true;
}

void TaskPipeline::setTimeLimits(const std::string& task, std::optional<double> soft_s,
                                 std::optional<double> hard_s) {
  time_limits_.setForTask(task, soft_s, hard_s);
}

void TaskPipeline::setConcurrency(std::size_t concurrency, std::uint16_t prefetch) {
  options_.concurrency = std::max<std::size_t>(1, concurrency);
  options_.prefetch = prefetch;
  updatePrefetch();
  pump();
}

}  // namespace celeriac::worker::app
