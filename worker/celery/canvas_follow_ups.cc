// successFollowUps() / failureFollowUps() (canvas.h): what trace.py and
// backends/base.py publish after a task, each signature applied through
// canvas_expand.h so that callbacks, chain steps and errbacks may be any canvas kind.

#include <utility>

#include "worker/celery/canvas.h"
#include "worker/celery/canvas_expand.h"
#include "worker/celery/chord_part.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

std::string rootOf(const TaskMessage& task) {
  return task.root_id.empty() ? task.id : task.root_id;
}

bool isGroup(const json& sig) {
  return sig.is_object() && sig.value("subtask_type", json()) == json("group");
}

// Appends one application's output; its result tuple goes into `children` when given.
void take(Expansion&& one, std::vector<OutboundMessage>& messages,
          std::vector<ChordSize>& chord_sizes, std::vector<std::string>& errors, json* children,
          const std::string& what) {
  for (auto& size : one.chord_sizes) chord_sizes.push_back(std::move(size));
  for (auto& message : one.messages) messages.push_back(std::move(message));
  for (auto& error : one.errors) errors.push_back(what + ": " + error);
  if (children != nullptr && !one.result.is_null()) children->push_back(std::move(one.result));
}

}  // namespace

SuccessFollowUps successFollowUps(const TaskMessage& task, const json& retval,
                                  const CanvasContext& ctx) {
  SuccessFollowUps out;
  const ApplyCall call{json::array({retval}), json::object(), task.id, rootOf(task)};

  if (!task.callbacks.is_null() && !task.callbacks.is_array()) {
    out.errors.push_back("embed.callbacks is not a list");
  } else if (task.callbacks.size() == 1) {
    Expansion one;
    applySignature(task.callbacks.front(), call, ctx, one);
    take(std::move(one), out.messages, out.chord_sizes, out.errors, &out.children, "callback");
  } else if (task.callbacks.size() > 1) {
    // trace.py: group callbacks are applied one by one, the others together as one
    // group (a fresh group id; the parent's children get its GroupResult tuple).
    json plain = json::array();
    for (const json& callback : task.callbacks) {
      if (isGroup(callback)) {
        Expansion one;
        applySignature(callback, call, ctx, one);
        take(std::move(one), out.messages, out.chord_sizes, out.errors, &out.children, "callback");
      } else {
        plain.push_back(callback);
      }
    }
    if (!plain.empty()) {
      Expansion one;
      applySignature(groupSignature(std::move(plain)), call, ctx, one);
      take(std::move(one), out.messages, out.chord_sizes, out.errors, &out.children, "callbacks");
    }
  }

  if (!task.chain.is_null() && !task.chain.is_array()) {
    out.errors.push_back("embed.chain is not a list");
  } else if (!task.chain.empty()) {
    // Reversed on the wire, as Python sends embed.chain: the next step is the last
    // element, and the rest travels on with it, an empty list for the final step.
    json rest = json::array();
    for (std::size_t i = 0; i + 1 < task.chain.size(); ++i) rest.push_back(task.chain[i]);
    ApplyCall step = call;
    step.options["chain"] = std::move(rest);
    Expansion one;
    applySignature(task.chain.back(), step, ctx, one);
    take(std::move(one), out.messages, out.chord_sizes, out.errors, &out.children, "chain step");
  }
  return out;
}

FailureFollowUps failureFollowUps(const TaskMessage& task, const CanvasContext& ctx) {
  FailureFollowUps out;

  // backends/base.py mark_as_failure(): every remaining step with a pre-assigned id
  // gets the FAILURE, so a client waiting on the chain's last result sees the error,
  // and a step that is a chord member reports its part so the chord cannot stall.
  if (task.chain.is_array()) {
    for (const json& step : task.chain) {
      if (!step.is_object()) continue;
      const auto options = step.find("options");
      if (options == step.end() || !options->is_object()) continue;
      const auto task_id = options->find("task_id");
      if (task_id != options->end() && task_id->is_string() &&
          !task_id->get_ref<const std::string&>().empty()) {
        out.remaining_chain_ids.push_back(task_id->get<std::string>());
      }
      if (auto member = chordMemberOfStep(step, rootOf(task))) {
        out.chord_parts.push_back(std::move(*member));
      }
    }
  } else if (!task.chain.is_null()) {
    out.errors.push_back("embed.chain is not a list");
  }

  if (!task.errbacks.is_null() && !task.errbacks.is_array()) {
    out.errors.push_back("embed.errbacks is not a list");
  } else if (!task.errbacks.empty()) {
    // backends/base.py _call_task_errbacks(): "old style" errbacks always go out as a
    // group, even a single one, so each carries a fresh group id.
    Expansion one;
    applySignature(groupSignature(task.errbacks),
                   {json::array({task.id}), json::object(), task.id, rootOf(task)}, ctx, one);
    take(std::move(one), out.errbacks, out.chord_sizes, out.errors, nullptr, "errbacks");
  }
  return out;
}

}  // namespace celeriac::worker::celery
