#include "worker/tasks/celery_builtins.h"

#include <cstdint>
#include <utility>

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

celery::ExceptionInfo typeError(std::string_view message) {
  return celery::makeException("TypeError", message, "builtins");
}

std::unique_ptr<TaskRun> finishWith(const TaskContext& ctx, TaskDone done, TaskOutcome outcome) {
  return TimerRun::start(ctx.dispatcher, milliseconds(0), std::move(outcome), std::move(done));
}

const json* argument(const celery::TaskMessage& m, std::size_t index, const char* name) {
  if (m.args.is_array() && m.args.size() > index) return &m.args[index];
  if (!m.kwargs.is_object()) return nullptr;
  auto it = m.kwargs.find(name);
  return it == m.kwargs.end() ? nullptr : &*it;
}

// Runs the items one after the other through the inner task's handler.
class MapRun final : public TaskRun {
 public:
  MapRun(const TaskRegistry::Entry& entry, common::Dispatcher& dispatcher, std::string task,
         json items, bool star, TaskDone done)
      : entry_(entry),
        dispatcher_(dispatcher),
        task_(std::move(task)),
        items_(std::move(items)),
        star_(star),
        done_(std::move(done)) {}
  ~MapRun() override { lifetime_.revoke(); }

  // Starts on a later turn: a handler never completes inside its own call.
  void startLater() {
    dispatcher_.post(lifetime_.guard([this] { next(); }));
  }

  void next() {
    if (cancelled_) return;
    if (index_ == items_.size()) {
      finish(Success{std::move(results_)});
      return;
    }
    const json& item = items_[index_];
    current_message_ = celery::TaskMessage{};
    current_message_.id = "map-item-" + std::to_string(index_);
    current_message_.task = task_;
    if (star_) {
      if (!item.is_array()) {
        finish(Failure{typeError("celery.starmap: every item must be a list of args")});
        return;
      }
      current_message_.args = item;
    } else {
      current_message_.args = json::array({item});
    }
    TaskContext ctx{current_message_, dispatcher_};
    current_ = entry_.handler(ctx, [this](TaskOutcome outcome) {
      if (cancelled_) return;
      // The finished item's run may be the caller: release it on a later turn.
      dispatcher_.post([run = std::shared_ptr<TaskRun>(std::move(current_))] {});
      if (auto* retry = std::get_if<Retry>(&outcome)) {
        outcome = Failure{retry->exc.value_or(celery::makeException(
            "RuntimeError", "retry requested inside celery.map", "builtins"))};
      }
      auto* success = std::get_if<Success>(&outcome);
      if (success == nullptr) {
        finish(std::move(outcome));
        return;
      }
      results_.push_back(std::move(success->value));
      ++index_;
      next();
    });
  }

  void cancel() override {
    cancelled_ = true;
    if (current_) current_->cancel();
  }

 private:
  void finish(TaskOutcome outcome) {
    cancelled_ = true;
    if (done_) done_(std::move(outcome));
  }

  const TaskRegistry::Entry& entry_;
  common::Dispatcher& dispatcher_;
  std::string task_;
  json items_;
  bool star_;
  TaskDone done_;
  std::size_t index_ = 0;
  json results_ = json::array();
  celery::TaskMessage current_message_;
  std::unique_ptr<TaskRun> current_;
  bool cancelled_ = false;
  common::LifetimeToken lifetime_;  // revoked first on destruction: silences startLater()
};

TaskHandler mapHandler(const TaskRegistry& registry, bool star) {
  return [&registry, star](const TaskContext& ctx, TaskDone done) -> std::unique_ptr<TaskRun> {
    const char* name = star ? "celery.starmap" : "celery.map";
    const json* task = argument(ctx.message, 0, "task");
    const json* items = argument(ctx.message, 1, "it");
    if (task == nullptr || !task->is_object() || !task->value("task", json()).is_string() ||
        items == nullptr || !items->is_array()) {
      return finishWith(
          ctx, std::move(done),
          Failure{typeError(std::string(name) + "() needs task (a signature) and it (a list)")});
    }
    const std::string inner = (*task)["task"].get<std::string>();
    const TaskRegistry::Entry* entry = registry.find(inner);
    if (entry == nullptr) {
      return finishWith(ctx, std::move(done), Failure{celery::notRegistered(inner)});
    }
    auto run =
        std::make_unique<MapRun>(*entry, ctx.dispatcher, inner, *items, star, std::move(done));
    run->startLater();
    return run;
  };
}

std::unique_ptr<TaskRun> accumulate(const TaskContext& ctx, TaskDone done) {
  const json& args = ctx.message.args;
  const json index = ctx.message.kwargs.is_object()
                         ? ctx.message.kwargs.value("index", json(nullptr))
                         : json(nullptr);
  if (index.is_null()) return finishWith(ctx, std::move(done), Success{args});
  if (!index.is_number_integer()) {
    return finishWith(ctx, std::move(done),
                      Failure{typeError("tuple indices must be integers or slices")});
  }
  auto i = index.get<std::int64_t>();
  const auto size = static_cast<std::int64_t>(args.size());
  if (i < 0) i += size;  // Python's negative indexing
  if (i < 0 || i >= size) {
    return finishWith(
        ctx, std::move(done),
        Failure{celery::makeException("IndexError", "tuple index out of range", "builtins")});
  }
  return finishWith(ctx, std::move(done), Success{args[static_cast<std::size_t>(i)]});
}

// add_chunk_task(): chunks(task, it, n)() applies a group of celery.starmap over
// slices of n items and returns its GroupResult; the pipeline publishes it.
std::unique_ptr<TaskRun> chunks(const TaskContext& ctx, TaskDone done) {
  const json* task = argument(ctx.message, 0, "task");
  const json* items = argument(ctx.message, 1, "it");
  const json* n = argument(ctx.message, 2, "n");
  if (task == nullptr || !task->is_object() || !task->value("task", json()).is_string() ||
      items == nullptr || !items->is_array() || n == nullptr || !n->is_number_integer() ||
      n->get<std::int64_t>() < 1) {
    return finishWith(
        ctx, std::move(done),
        Failure{typeError(
            "celery.chunks() needs task (a signature), it (a list) and n (a positive integer)")});
  }
  json signature = {{"task", "celery.chunks"},
                    {"args", json::array()},
                    {"kwargs", {{"task", *task}, {"it", *items}, {"n", *n}}},
                    {"options", json::object()},
                    {"subtask_type", "chunks"},
                    {"immutable", true}};
  return finishWith(ctx, std::move(done), Success{nullptr, std::move(signature)});
}

std::unique_ptr<TaskRun> backendCleanup(const TaskContext& ctx, TaskDone done) {
  return finishWith(ctx, std::move(done), Success{nullptr});
}

}  // namespace

void registerCeleryBuiltins(TaskRegistry& registry) {
  registry.add("celery.map", mapHandler(registry, false));
  registry.add("celery.starmap", mapHandler(registry, true));
  registry.add("celery.chunks", &chunks);
  registry.add("celery.accumulate", &accumulate);
  registry.add("celery.backend_cleanup", &backendCleanup);
}

}  // namespace celeriac::worker::tasks
