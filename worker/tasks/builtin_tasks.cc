#include "worker/tasks/builtin_tasks.h"

#include "worker/celery/python_json.h"

#include <cmath>
#include <optional>
#include <string>

namespace celeriac::worker::tasks {

namespace {

using std::chrono::milliseconds;

// Errors of the built-in tasks: builtin Python types stay "builtins".
celery::ExceptionInfo pythonError(std::string_view type, std::string_view message) {
  return celery::makeException(type, message, "celeriac.errors");
}

std::unique_ptr<TaskRun> fail(const TaskContext& ctx, TaskDone done, celery::ExceptionInfo e) {
  return TimerRun::start(ctx.dispatcher, milliseconds(0), Failure{std::move(e)}, std::move(done));
}

std::unique_ptr<TaskRun> echo(const TaskContext& ctx, TaskDone done) {
  const auto& m = ctx.message;
  nlohmann::json value;
  if (m.args.size() == 1) {
    value = m.args[0];
  } else if (m.args.empty() && !m.kwargs.empty()) {
    value = m.kwargs;
  } else {
    value = m.args;
  }
  return TimerRun::start(ctx.dispatcher, milliseconds(0), Success{std::move(value)},
                         std::move(done));
}

// Reads an argument by position or keyword, as Python binds fail(message, exc_type).
const nlohmann::json* argument(const celery::TaskMessage& m, std::size_t index,
                               const char* name) {
  if (m.args.size() > index) return &m.args[index];
  auto it = m.kwargs.find(name);
  return it == m.kwargs.end() ? nullptr : &*it;
}

std::unique_ptr<TaskRun> failTask(const TaskContext& ctx, TaskDone done) {
  const auto* message = argument(ctx.message, 0, "message");
  const auto* type = argument(ctx.message, 1, "exc_type");
  if (message == nullptr) {
    return fail(ctx, std::move(done),
                pythonError("TypeError", "fail() missing 1 required positional argument: 'message'"));
  }
  // As Python's str() of the value: integers of any size as their digits.
  std::string text =
      message->is_string() ? message->get<std::string>() : celery::dumpPythonJson(*message);
  std::string type_name = "RuntimeError";
  if (type != nullptr) {
    if (!type->is_string() || type->get<std::string>().empty()) {
      return fail(ctx, std::move(done), pythonError("TypeError", "fail(): exc_type must be a non-empty string"));
    }
    type_name = type->get<std::string>();
  }
  return fail(ctx, std::move(done), pythonError(type_name, text));
}

std::unique_ptr<TaskRun> sleepTask(const TaskContext& ctx, TaskDone done) {
  const auto* seconds = argument(ctx.message, 0, "seconds");
  if (seconds == nullptr || !seconds->is_number()) {
    return fail(ctx, std::move(done),
                pythonError("TypeError", "sleep() needs a number of seconds as its argument"));
  }
  const double s = seconds->get<double>();
  constexpr double kMaxSeconds = 86400.0;  // a day: longer is surely a mistake
  if (!std::isfinite(s) || s < 0 || s > kMaxSeconds) {
    return fail(ctx, std::move(done),
                pythonError("ValueError", "sleep() seconds must be between 0 and 86400"));
  }
  const auto delay = milliseconds(static_cast<std::int64_t>(std::llround(s * 1000.0)));
  return TimerRun::start(ctx.dispatcher, delay, Success{*seconds}, std::move(done));
}

std::unique_ptr<TaskRun> retryTask(const TaskContext& ctx, TaskDone done) {
  const auto* countdown = argument(ctx.message, 0, "countdown");
  const auto* succeed_after = argument(ctx.message, 1, "succeed_after");
  std::optional<milliseconds> delay;
  if (countdown != nullptr && !countdown->is_null()) {
    const double s = countdown->is_number() ? countdown->get<double>() : -1.0;
    if (!std::isfinite(s) || s < 0 || s > 86400.0) {
      return fail(ctx, std::move(done),
                  pythonError("ValueError", "retry() countdown must be between 0 and 86400"));
    }
    delay = milliseconds(static_cast<std::int64_t>(std::llround(s * 1000.0)));
  }
  if (succeed_after != nullptr && !succeed_after->is_null() &&
      (!succeed_after->is_number_integer() || succeed_after->get<std::int64_t>() < 0)) {
    return fail(ctx, std::move(done),
                pythonError("ValueError", "retry() succeed_after must be a non-negative integer"));
  }
  const int retries = ctx.message.retries;
  if (succeed_after != nullptr && !succeed_after->is_null() &&
      retries >= succeed_after->get<std::int64_t>()) {
    return TimerRun::start(ctx.dispatcher, milliseconds(0),
                           Success{nlohmann::json{{"retries", retries}}}, std::move(done));
  }
  return TimerRun::start(
      ctx.dispatcher, milliseconds(0),
      Retry{pythonError("RuntimeError", "retry " + std::to_string(retries)), delay},
      std::move(done));
}

}  // namespace

void registerBuiltinTasks(TaskRegistry& registry) {
  registry.add("celeriac.echo", &echo);
  registry.add("celeriac.fail", &failTask);
  registry.add("celeriac.sleep", &sleepTask);
  TaskOptions retry_options;
  retry_options.max_retries = 3;  // Celery's default, stated because the tests rely on it
  registry.add("celeriac.retry", &retryTask, retry_options);
}

}  // namespace celeriac::worker::tasks
