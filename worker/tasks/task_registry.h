#pragma once
// TaskRegistry: task name -> asynchronous handler, plus per-task options.
//
// A handler starts a task and returns at once; it completes later, from the loop,
// by calling `done` exactly once (never inside the handler call itself). It returns
// a TaskRun the pipeline keeps while the task is in flight: cancel() stops the work
// (timers, LLM calls) and guarantees `done` will not fire afterwards.
// Loop thread only.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "balancer/dispatcher.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::tasks {

// How a task ended: a return value (any JSON) or an exception Python can re-raise.
struct TaskOutcome {
  bool ok = true;
  nlohmann::json value;          // when ok
  celery::ExceptionInfo error;   // when !ok

  static TaskOutcome success(nlohmann::json v) { return TaskOutcome{true, std::move(v), {}}; }
  static TaskOutcome failure(celery::ExceptionInfo e) {
    return TaskOutcome{false, nullptr, std::move(e)};
  }
};

using TaskDone = std::function<void(TaskOutcome)>;

// What a handler may use while it runs. The message outlives the run.
struct TaskContext {
  const celery::TaskMessage& message;
  balancer::Dispatcher& dispatcher;
};

class TaskRun {
 public:
  virtual ~TaskRun() = default;
  virtual void cancel() = 0;
};

using TaskHandler = std::function<std::unique_ptr<TaskRun>(const TaskContext&, TaskDone)>;

struct TaskOptions {
  // Ack after the result is stored (default). false = Celery's early ack at start.
  std::optional<bool> acks_late;
  // Store STARTED before running (Celery's track_started).
  std::optional<bool> track_started;
};

class TaskRegistry {
 public:
  void add(std::string name, TaskHandler handler, TaskOptions options = {});

  struct Entry {
    TaskHandler handler;
    TaskOptions options;
  };
  [[nodiscard]] const Entry* find(const std::string& name) const;
  // Sorted names, as `celery inspect registered` lists them.
  [[nodiscard]] std::vector<std::string> names() const;

 private:
  std::unordered_map<std::string, Entry> entries_;
};

// A TaskRun whose work is one Dispatcher timer (or a posted callback): cancel()
// cancels the timer and silences `done`. Shared by handlers that only wait.
class TimerRun final : public TaskRun {
 public:
  // Completes with `outcome` after `delay` (0: on a later loop turn).
  static std::unique_ptr<TaskRun> start(balancer::Dispatcher& dispatcher,
                                        std::chrono::milliseconds delay, TaskOutcome outcome,
                                        TaskDone done);
  ~TimerRun() override;
  void cancel() override;

 private:
  TimerRun(balancer::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  balancer::Dispatcher& dispatcher_;
  balancer::TimerId timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace celeriac::worker::tasks
