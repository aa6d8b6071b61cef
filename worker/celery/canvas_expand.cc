#include "worker/celery/canvas_expand.h"

#include <deque>
#include <optional>
#include <utility>

#include "common/result.h"
#include "worker/celery/frozen_result.h"
#include "worker/celery/result_document.h"
#include "worker/celery/signature_ops.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using namespace signature_ops;  // NOLINT: the canvas.py vocabulary, used throughout

std::string newId(const CanvasContext& ctx) { return ctx.new_id ? ctx.new_id() : std::string(); }

void applyTask(json sig, const ApplyCall& call, const CanvasContext& ctx, Expansion& out) {
  if (!sig.is_object()) {
    out.errors.push_back("signature is not a JSON object");
    return;
  }
  json merged = mergeOptions(sig.value("options", json::object()), call.options);
  json chain_rest = merged.value("chain", json(nullptr));
  merged.erase("chain");
  const std::string type = typeOf(sig);
  if (type == "xmap" || type == "xstarmap") {
    // _basemap.apply_async(): immutable, routed by the inner task's name.
    sig.erase("subtask_type");
    sig["immutable"] = true;
    const json inner = kwargOf(sig, "task");
    if (!hasString(merged, "queue") && inner.is_object() &&
        inner.value("task", json()).is_string()) {
      const std::string name = inner["task"].get<std::string>();
      auto routed = ctx.route_for_task ? ctx.route_for_task(name) : std::nullopt;
      merged["queue"] = routed.value_or(ctx.default_queue);
    }
  } else if (!type.empty()) {
    sig.erase("subtask_type");  // an unknown kind: sent as the task it names
  }
  sig["options"] = std::move(merged);
  auto message = messageForSignature(sig, call.args, call.parent_id, call.root_id, chain_rest, ctx);
  if (!message) {
    out.errors.push_back(message.error().message);
    return;
  }
  out.result = resultTuple(message->task_id);
  out.messages.push_back(std::move(message).value());
}

void applyGroup(const json& sig, const ApplyCall& call, const CanvasContext& ctx, Expansion& out) {
  json merged = mergeOptions(sig.value("options", json::object()), call.options);
  const std::string group_id =
      hasString(merged, "task_id") ? merged["task_id"].get<std::string>() : newId(ctx);
  if (group_id.empty()) {
    out.errors.push_back("group: no id generator in the canvas context");
    return;
  }
  merged.erase("task_id");
  merged["group_id"] = group_id;
  json members = json::array();
  unrollInto(kwargOf(sig, "tasks"), members);
  json results = json::array();
  for (json& member : members) freeze(member, {"", group_id, nullptr, std::nullopt}, ctx);
  // No chord size here. Members carrying a chord belong to a header whose size its
  // applier wrote (applyChord, or Python's chord.run) from _chord._descend() over the
  // WHOLE header. Python's _apply_tasks() also writes this group's own count when the
  // group is a later chain step of one header member (chain(a, group(b, c)) next to d):
  // that replaces 3 with 2, the header "completes" before d has run and a Python
  // completer's join gives the body None for d. Not reproduced.
  for (const json& member : members) {
    Expansion one;
    applySignature(member, {call.args, merged, call.parent_id, call.root_id}, ctx, one);
    for (auto& s : one.chord_sizes) out.chord_sizes.push_back(std::move(s));
    for (auto& m : one.messages) out.messages.push_back(std::move(m));
    for (auto& e : one.errors) out.errors.push_back(std::move(e));
    if (!one.result.is_null()) results.push_back(std::move(one.result));
  }
  out.result = json::array({json::array({group_id, nullptr}), std::move(results)});
}

void applyChain(const json& sig, const ApplyCall& call, const CanvasContext& ctx, Expansion& out) {
  json merged = mergeOptions(sig.value("options", json::object()), call.options);
  const json args = !call.args.empty() && !isImmutable(sig)
                        ? prependArgs(call.args, sig.value("args", json::array()))
                        : sig.value("args", json::array());
  Freeze last;
  if (hasString(merged, "task_id")) last.id = merged["task_id"].get<std::string>();
  if (hasString(merged, "group_id")) last.group_id = merged["group_id"].get<std::string>();
  last.chord = merged.value("chord", json(nullptr));
  if (merged.value("group_index", json()).is_number_integer()) {
    last.group_index = merged["group_index"].get<int>();
  }
  const json links = listOf(merged.value("link", json(nullptr)));
  const json errbacks = listOf(merged.value("link_error", json(nullptr)));
  for (const char* key : {"task_id", "group_id", "chord", "group_index", "link", "link_error",
                          "parent_id", "root_id"}) {
    merged.erase(key);
  }
  const json tasks = kwargOf(sig, "tasks");
  if (!tasks.is_array()) {
    out.errors.push_back("chain without a list of tasks");
    return;
  }
  // prepare_steps(): walk the steps from the last, splicing nested chains and turning
  // "group, then a step" into a chord whose body is that step.
  std::deque<json> steps(tasks.begin(), tasks.end());
  std::vector<json> prepared;  // reversed: prepared.back() is the first step
  while (!steps.empty()) {
    json task = steps.back();
    steps.pop_back();
    const bool is_first = steps.empty();
    const bool is_last = prepared.empty();
    if (!task.is_object()) {
      out.errors.push_back("chain step is not a JSON object");
      return;
    }
    if (typeOf(task) == "group") {
      const json members = kwargOf(task, "tasks");
      if (members.is_array() && members.size() == 1) task = members[0];  // maybe_unroll_group
    }
    if (typeOf(task) == "chain") {
      json inner = kwargOf(task, "tasks");
      if (is_first && !args.empty() && inner.is_array() && !inner.empty() && !isImmutable(task)) {
        inner[0]["args"] = prependArgs(args, inner[0].value("args", json::array()));
      }
      if (inner.is_array()) {
        for (json& step : inner) steps.push_back(std::move(step));
      }
      continue;
    }
    if (is_first && !args.empty() && !isImmutable(task)) {
      if (typeOf(task) == "group") {
        for (json& member : task["kwargs"]["tasks"]) {
          if (!isImmutable(member))
            member["args"] = prependArgs(args, member.value("args", json::array()));
        }
      } else {
        task["args"] = prependArgs(args, task.value("args", json::array()));
      }
    }
    if (typeOf(task) == "group" && !prepared.empty()) {
      json body = std::move(prepared.back());
      prepared.pop_back();
      const std::string body_id = body.value("options", json::object()).value("task_id", "");
      task = chordSignature(std::move(task), std::move(body), body_id);
    }
    freeze(task, is_last ? last : Freeze{}, ctx);
    for (const json& errback : errbacks) linkError(task, errback);
    prepared.push_back(std::move(task));
  }
  if (prepared.empty()) return;
  for (const json& callback : links) link(prepared.front(), callback);
  json first = std::move(prepared.back());
  prepared.pop_back();
  json chain = merged.value("chain", json(nullptr));
  chain = chain.is_array() ? chain : json::array();
  for (json& step : prepared) chain.push_back(std::move(step));
  merged["chain"] = std::move(chain);
  applySignature(first, {json::array(), merged, call.parent_id, call.root_id}, ctx, out);
}

void applyChord(const json& sig, const ApplyCall& call, const CanvasContext& ctx, Expansion& out) {
  const json args = !call.args.empty() && !isImmutable(sig)
                        ? prependArgs(call.args, sig.value("args", json::array()))
                        : sig.value("args", json::array());
  json body = kwargOf(sig, "body");
  if (!body.is_object()) {
    out.errors.push_back("chord without a body signature");
    return;
  }
  const json header = kwargOf(sig, "header");
  json merged = mergeOptions(sig.value("options", json::object()), call.options);
  const std::string task_id = merged.value("task_id", json("")).is_string()
                                  ? merged.value("task_id", std::string())
                                  : std::string();
  merged.erase("task_id");
  // _chord.run(): the body takes the chord's options (its chain, links, group...).
  json& body_options = optionsOf(body);
  for (const auto& [key, value] : merged.items()) body_options[key] = value;
  freeze(body, {task_id, "", nullptr, std::nullopt}, ctx);
  for (const char* key : {"chain", "chord", "link", "link_error", "group_id", "group_index"}) {
    merged.erase(key);
  }
  std::string group_id;
  if (header.is_object() && hasString(header.value("options", json::object()), "task_id")) {
    group_id = header["options"]["task_id"].get<std::string>();
  } else {
    group_id = newId(ctx);
  }
  json members = headerTasks(header);
  if (members.empty()) {
    // No header task will ever complete it: the body is called at once with [].
    applyTask(body, {json::array({json::array()}), json::object(), call.parent_id, call.root_id},
              ctx, out);
    return;
  }
  std::int64_t size = 0;
  json member_results = json::array();
  bool complex = false;
  for (std::size_t i = 0; i < members.size(); ++i) {
    freeze(members[i], {"", group_id, body, static_cast<int>(i)}, ctx);
    size += chordCompletions(members[i]);
    member_results.push_back(frozenResult(members[i]));
    complex = complex || member_results.back()[1].is_array();
  }
  // apply_chord(): a header with a group result among its members' results is saved,
  // so whoever completes it joins the saved GroupResult and the body gets that
  // member's results as one list (the parts alone would give a flat list).
  out.chord_sizes.push_back(
      {group_id, size, complex ? savedGroupDocument(group_id, member_results) : std::string()});
  json group = groupSignature(std::move(members));
  merged["task_id"] = group_id;
  group["options"] = std::move(merged);
  applyGroup(group, {args, json::object(), call.parent_id, call.root_id}, ctx, out);
}

// chunks.group(): celery.starmap over slices of n items.
common::Result<json> chunksGroup(const json& sig) {
  const json task = kwargOf(sig, "task");
  const json items = kwargOf(sig, "it");
  const json n = kwargOf(sig, "n");
  if (!task.is_object() || !items.is_array() || !n.is_number_integer() ||
      n.get<std::int64_t>() < 1) {
    return common::Error{
        "chunks needs kwargs task (a signature), it (a list) and n (a positive integer)"};
  }
  const auto size = static_cast<std::size_t>(n.get<std::int64_t>());
  json tasks = json::array();
  for (std::size_t start = 0; start < items.size(); start += size) {
    json part = json::array();
    for (std::size_t i = start; i < items.size() && i < start + size; ++i) part.push_back(items[i]);
    tasks.push_back(json{{"task", "celery.starmap"},
                         {"args", json::array()},
                         {"kwargs", {{"task", task}, {"it", std::move(part)}}},
                         {"options", json::object()},
                         {"subtask_type", "xstarmap"},
                         {"immutable", true}});
  }
  json group = groupSignature(std::move(tasks));
  group["options"] = sig.value("options", json::object());
  return group;
}

}  // namespace

json groupSignature(json tasks) {
  return json{{"task", "celery.group"},
              {"args", json::array()},
              {"kwargs", {{"tasks", std::move(tasks)}}},
              {"options", json::object()},
              {"subtask_type", "group"},
              {"immutable", false}};
}

std::int64_t chordCompletions(const json& sig) {
  const std::string type = typeOf(sig);
  if (type == "group") {
    std::int64_t total = 0;
    const json tasks = kwargOf(sig, "tasks");
    if (tasks.is_array()) {
      for (const json& task : tasks) total += chordCompletions(task);
    }
    return total;
  }
  if (type == "chain") {
    const json tasks = kwargOf(sig, "tasks");
    if (tasks.is_array()) {
      for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
        if (const std::int64_t n = chordCompletions(*it); n > 0) return n;
      }
    }
    return 0;
  }
  if (type == "chord") return chordCompletions(kwargOf(sig, "body"));
  return 1;
}

void applySignature(const json& signature, const ApplyCall& call, const CanvasContext& ctx,
                    Expansion& out) {
  const std::string type = signature.is_object() ? typeOf(signature) : std::string();
  if (type == "chain") {
    applyChain(signature, call, ctx, out);
  } else if (type == "group") {
    applyGroup(signature, call, ctx, out);
  } else if (type == "chord") {
    applyChord(signature, call, ctx, out);
  } else if (type == "chunks") {
    const common::Result<json> group = chunksGroup(signature);
    if (!group) {
      out.errors.push_back(group.error().message);
      return;
    }
    applyGroup(*group, call, ctx, out);
  } else {
    applyTask(signature, call, ctx, out);
  }
}

}  // namespace celeriac::worker::celery
