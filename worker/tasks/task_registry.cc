#include "worker/tasks/task_registry.h"

#include <algorithm>

namespace celeriac::worker::tasks {

void TaskRegistry::add(std::string name, TaskHandler handler, TaskOptions options) {
  entries_[std::move(name)] = Entry{std::move(handler), options};
}

const TaskRegistry::Entry* TaskRegistry::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

bool TaskRegistry::setOptions(const std::string& name, TaskOptions options) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  it->second.options = std::move(options);
  return true;
}

std::vector<std::string> TaskRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<TaskRun> TimerRun::start(common::Dispatcher& dispatcher,
                                         std::chrono::milliseconds delay, TaskOutcome outcome,
                                         TaskDone done) {
  std::unique_ptr<TimerRun> run(new TimerRun(dispatcher));
  // The guard covers the run being destroyed before the timer fires without a cancel():
  // the callback then does nothing instead of touching freed memory.
  auto complete =
      run->lifetime_.guard([outcome = std::move(outcome), done = std::move(done)]() mutable {
        done(std::move(outcome));
      });
  if (delay.count() <= 0) {
    // Cheaper than a timer handle per task; cancel() still silences it through the guard.
    dispatcher.post(std::move(complete));
  } else {
    run->timer_ = dispatcher.schedule(delay, std::move(complete));
  }
  return run;
}

TimerRun::~TimerRun() { cancel(); }

void TimerRun::cancel() {
  if (timer_ != 0) dispatcher_.cancel(timer_);
  timer_ = 0;
  lifetime_.revoke();
}

}  // namespace celeriac::worker::tasks
