#include "worker/celery/frozen_result.h"

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "worker/celery/signature_ops.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using namespace signature_ops;  // NOLINT: the canvas.py vocabulary

// The tuple's first node without a parent gets `parent` (prepare_steps() and
// _chord.freeze() link results this way).
json withRootParent(json tuple, json parent) {
  if (!tuple.is_array() || tuple.size() != 2 || !tuple[0].is_array() || tuple[0].size() != 2) {
    return tuple;
  }
  json& own = tuple[0][1];
  own = own.is_null() ? std::move(parent) : withRootParent(std::move(own), std::move(parent));
  return tuple;
}

json idOf(const json& sig) {
  const json options = sig.is_object() ? sig.value("options", json::object()) : json::object();
  return hasString(options, "task_id") ? options["task_id"] : json(nullptr);
}

// GroupResult(id, results of `tasks`): group._freeze_unroll() puts a nested group's
// tasks at the front of its stack (extendleft), so they come out reversed.
json groupResult(const json& id, const json& tasks) {
  std::deque<json> stack;
  if (tasks.is_array()) stack.assign(tasks.begin(), tasks.end());
  json results = json::array();
  while (!stack.empty()) {
    json task = std::move(stack.front());
    stack.pop_front();
    if (typeOf(task) == "group") {
      const json inner = kwargOf(task, "tasks");
      if (inner.is_array()) {
        for (const json& member : inner) stack.push_front(member);
      }
      continue;
    }
    results.push_back(frozenResult(task));
  }
  return json::array({json::array({id, nullptr}), std::move(results)});
}

// prepare_steps(): nested chains spliced, a group of one task is that task.
void spliceSteps(const json& tasks, std::vector<json>& out) {
  if (!tasks.is_array()) return;
  for (const json& task : tasks) {
    if (typeOf(task) == "chain") {
      spliceSteps(kwargOf(task, "tasks"), out);
      continue;
    }
    const json members = kwargOf(task, "tasks");
    if (typeOf(task) == "group" && members.is_array() && members.size() == 1) {
      out.push_back(members[0]);  // maybe_unroll_group()
    } else {
      out.push_back(task);
    }
  }
}

json chainResult(const json& sig) {
  std::vector<json> steps;
  spliceSteps(kwargOf(sig, "tasks"), steps);
  // From the last step, as prepare_steps() walks: a group followed by a step is the
  // chord whose result is that step's, the group's result its first parent.
  std::vector<json> reversed;
  for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
    if (typeOf(*step) == "group" && !reversed.empty()) {
      json body = std::move(reversed.back());
      reversed.pop_back();
      reversed.push_back(
          withRootParent(std::move(body), groupResult(idOf(*step), kwargOf(*step, "tasks"))));
    } else {
      reversed.push_back(frozenResult(*step));
    }
  }
  // Each step's result becomes the parent of the next one's first parentless node.
  json result = nullptr;
  for (auto step = reversed.rbegin(); step != reversed.rend(); ++step) {
    result = result.is_null() ? std::move(*step) : withRootParent(std::move(*step), result);
  }
  return result;
}

}  // namespace

json frozenResult(const json& sig) {
  if (!sig.is_object()) return nullptr;
  const std::string type = typeOf(sig);
  if (type == "group") return groupResult(idOf(sig), kwargOf(sig, "tasks"));
  if (type == "chain") return chainResult(sig);
  if (type == "chord") {
    const json header = kwargOf(sig, "header");
    const json header_result = header.is_array()
                                   ? groupResult(nullptr, header)
                                   : groupResult(idOf(header), kwargOf(header, "tasks"));
    return withRootParent(frozenResult(kwargOf(sig, "body")), header_result);
  }
  return json::array({json::array({idOf(sig), nullptr}), nullptr});
}

}  // namespace celeriac::worker::celery
