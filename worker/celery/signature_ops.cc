#include "worker/celery/signature_ops.h"

#include <utility>

namespace celeriac::worker::celery::signature_ops {

using nlohmann::json;

namespace {

std::string newId(const CanvasContext& ctx) { return ctx.new_id ? ctx.new_id() : std::string(); }

void appendListOption(json& options, const char* key, const json& value) {
  json& list = options[key];
  if (list.is_object()) list = json::array({list});
  if (!list.is_array()) list = json::array();
  for (const json& existing : list) {
    if (existing == value) return;
  }
  list.push_back(value);
}

}  // namespace

std::string typeOf(const json& sig) {
  const auto it = sig.find("subtask_type");
  return it != sig.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool isImmutable(const json& sig) {
  const auto it = sig.find("immutable");
  return it != sig.end() && it->is_boolean() && it->get<bool>();
}

json& optionsOf(json& sig) {
  json& options = sig["options"];
  if (!options.is_object()) options = json::object();
  return options;
}

json kwargOf(const json& sig, const char* key) {
  const auto kwargs = sig.find("kwargs");
  if (kwargs == sig.end() || !kwargs->is_object()) return nullptr;
  return kwargs->value(key, json(nullptr));
}

bool hasString(const json& options, const char* key) {
  const auto it = options.find(key);
  return it != options.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

// Signature._merge(): call options over the signature's, None values dropped, and a
// group_id the signature already has is kept (_IMMUTABLE_OPTIONS).
json mergeOptions(const json& own, const json& call) {
  json merged = own.is_object() ? own : json::object();
  if (!call.is_object()) return merged;
  for (const auto& [key, value] : call.items()) {
    if (value.is_null()) continue;
    if (key == "group_id" && hasString(merged, "group_id")) continue;
    merged[key] = value;
  }
  return merged;
}

json prependArgs(const json& prefix, const json& args) {
  json out = prefix.is_array() ? prefix : json::array();
  if (args.is_array()) {
    for (const json& a : args) out.push_back(a);
  }
  return out;
}

// Nested groups are flattened (group._freeze_unroll / _prepared).
void unrollInto(const json& tasks, json& out) {
  if (!tasks.is_array()) return;
  for (const json& task : tasks) {
    if (typeOf(task) == "group") {
      unrollInto(kwargOf(task, "tasks"), out);
    } else {
      out.push_back(task);
    }
  }
}

json headerTasks(const json& header) {
  json out = json::array();
  if (header.is_object() && typeOf(header) == "group") {
    unrollInto(kwargOf(header, "tasks"), out);
  } else if (header.is_array()) {
    unrollInto(header, out);
  }
  return out;
}

// Signature.freeze() and its overrides: fixes ids (and, for the member of a group or
// chord, group_id/chord/group_index) in place.
void freeze(json& sig, const Freeze& f, const CanvasContext& ctx) {
  if (!sig.is_object()) return;
  const std::string type = typeOf(sig);
  json& options = optionsOf(sig);
  if (type == "chain") {
    json& tasks = sig["kwargs"]["tasks"];
    if (!tasks.is_array() || tasks.empty()) return;
    for (std::size_t i = 0; i + 1 < tasks.size(); ++i) freeze(tasks[i], {}, ctx);
    freeze(tasks.back(), f, ctx);  // the last step stands for the chain
    return;
  }
  if (type == "chord") {
    json& kwargs = sig["kwargs"];
    if (!kwargs.is_object() || !kwargs["body"].is_object()) return;
    freeze(kwargs["body"], f, ctx);
    return;
  }
  if (type == "group") {
    // group._freeze_group_tasks(): the group keeps its own task_id, else takes the id of
    // the group it is frozen into (a chain ending in a group inside a chord header: its
    // members report to the header's group, which counted them), else a new one. The
    // members get that enclosing group id (or, standalone, the group's own), the chord
    // and their position.
    if (!hasString(options, "task_id")) {
      options["task_id"] = f.group_id.empty() ? newId(ctx) : f.group_id;
    }
    if (!f.group_id.empty()) options["group_id"] = f.group_id;
    if (f.chord.is_object()) options["chord"] = f.chord;
    if (f.group_index) options["group_index"] = *f.group_index;
    const std::string members_group =
        f.group_id.empty() ? options["task_id"].get<std::string>() : f.group_id;
    json& tasks = sig["kwargs"]["tasks"];
    if (!tasks.is_array()) return;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      freeze(tasks[i], {"", members_group, f.chord, static_cast<int>(i)}, ctx);
    }
    return;
  }
  if (!hasString(options, "task_id")) options["task_id"] = f.id.empty() ? newId(ctx) : f.id;
  if (!f.group_id.empty() && !hasString(options, "group_id")) options["group_id"] = f.group_id;
  if (f.chord.is_object()) options["chord"] = f.chord;
  if (f.group_index) options["group_index"] = *f.group_index;
}

// Signature.link_error() and its overrides (group: every member; chord: the body).
void linkError(json& sig, const json& errback) {
  const std::string type = typeOf(sig);
  if (type == "group") {
    for (json& task : sig["kwargs"]["tasks"]) linkError(task, errback);
  } else if (type == "chord") {
    linkError(sig["kwargs"]["body"], errback);
  } else {
    appendListOption(optionsOf(sig), "link_error", errback);
  }
}

// Signature.link() and its overrides (group: the first member, made immutable; chord:
// the body).
void link(json& sig, const json& callback) {
  const std::string type = typeOf(sig);
  if (type == "group") {
    json& tasks = sig["kwargs"]["tasks"];
    if (!tasks.is_array() || tasks.empty()) return;
    json immutable = callback;
    immutable["immutable"] = true;
    link(tasks[0], immutable);
  } else if (type == "chord") {
    link(sig["kwargs"]["body"], callback);
  } else {
    appendListOption(optionsOf(sig), "link", callback);
  }
}

json listOf(const json& value) {
  if (value.is_null()) return json::array();
  if (value.is_array()) return value;
  return json::array({value});
}

json chordSignature(json header, json body, const std::string& body_id) {
  json options = json::object();
  if (!body_id.empty()) options["task_id"] = body_id;
  return json{
      {"task", "celery.chord"},
      {"args", json::array()},
      {"kwargs",
       {{"header", std::move(header)}, {"body", std::move(body)}, {"kwargs", json::object()}}},
      {"options", std::move(options)},
      {"subtask_type", "chord"},
      {"immutable", false}};
}

}  // namespace celeriac::worker::celery::signature_ops
