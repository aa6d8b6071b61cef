#include "worker/celery/task_fields.h"

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>

#include "worker/celery/iso_time.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

// Header keys Celery defines, across 5.2 to 5.6.
constexpr auto kCeleryHeaders = std::to_array<std::string_view>({
    "lang",
    "task",
    "id",
    "shadow",
    "eta",
    "expires",
    "group",
    "group_index",
    "retries",
    "timelimit",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "ignore_result",
    "stamped_headers",
    "stamps",
    "replaced_task_nesting",
    "compression",
    "meth",
});

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Absent and null both read as "not given".
const json* field(const json& meta, const char* key) {
  const auto it = meta.find(key);
  if (it == meta.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string typeError(const char* key, const char* expected, const json& value) {
  return std::string("'") + key + "' must be " + expected + " or null, got " + value.type_name();
}

// Ids and names the worker acts on: string or absent/null.
std::string readId(const json& meta, const char* key, std::string& out) {
  const json* value = field(meta, key);
  if (value == nullptr) return {};
  if (!value->is_string()) return typeError(key, "a string", *value);
  out = value->get<std::string>();
  return {};
}

// Display-only strings: anything but a string is ignored.
void readDisplay(const json& meta, const char* key, std::string& out) {
  const json* value = field(meta, key);
  if (value != nullptr && value->is_string()) out = value->get<std::string>();
}

std::optional<long long> asInteger(const json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<long long>();
  if (value.is_number_unsigned() &&
      value.get<unsigned long long>() <=
          static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
    return static_cast<long long>(value.get<unsigned long long>());
  }
  return std::nullopt;
}

std::string readInt(const json& meta, const char* key, int min_value, std::optional<int>& out) {
  const json* value = field(meta, key);
  if (value == nullptr) return {};
  const std::optional<long long> number = asInteger(*value);
  if (!number || *number < min_value || *number > std::numeric_limits<int>::max()) {
    return typeError(key, ("an integer >= " + std::to_string(min_value)).c_str(), *value);
  }
  out = static_cast<int>(*number);
  return {};
}

std::string readTime(const json& meta, const char* key,
                     std::optional<std::chrono::system_clock::time_point>& out) {
  const json* value = field(meta, key);
  if (value == nullptr) return {};
  if (!value->is_string()) return typeError(key, "an ISO-8601 string", *value);
  out = parseIsoTime(value->get_ref<const std::string&>());
  if (!out) {
    // Python raises InvalidTaskError here and rejects the message.
    return std::string("invalid ") + key + " '" + value->get<std::string>() +
           "': expected ISO-8601 like 2026-11-22T23:59:29.886040+00:00";
  }
  return {};
}

// timelimit = [hard, soft] (Celery's docs say the opposite). 0 means no limit, as in Python.
std::string readTimeLimits(const json& meta, TimeLimits& out) {
  const json* value = field(meta, "timelimit");
  if (value == nullptr) return {};
  if (!value->is_array() || value->size() != 2) {
    return "'timelimit' must be [hard, soft] (two numbers or nulls)";
  }
  std::optional<double>* targets[] = {&out.hard_s, &out.soft_s};
  for (std::size_t i = 0; i < 2; ++i) {
    const json& limit = (*value)[i];
    if (limit.is_null()) continue;
    if (!limit.is_number() || !std::isfinite(limit.get<double>()) || limit.get<double>() < 0) {
      return "'timelimit' must be [hard, soft] with non-negative numbers or nulls";
    }
    if (limit.get<double>() > 0) *targets[i] = limit.get<double>();
  }
  return {};
}

}  // namespace

std::string readTaskFields(const json& meta, int protocol, TaskMessage& task) {
  if (!meta.is_object()) return "task metadata must be an object";

  // The two fields Python's worker requires.
  const json* id = field(meta, "id");
  if (id == nullptr || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    return "missing task id: 'id' must be a non-empty string";
  }
  task.id = id->get<std::string>();
  const json* name = field(meta, "task");
  if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return "missing task name: 'task' must be a non-empty string";
  }
  task.task = name->get<std::string>();

  std::string error = readId(meta, "root_id", task.root_id);
  if (error.empty()) error = readId(meta, "parent_id", task.parent_id);
  if (error.empty()) error = readId(meta, "group", task.group_id);
  // v1: `taskset` is the old name of `group`.
  if (error.empty() && protocol == 1 && task.group_id.empty()) {
    error = readId(meta, "taskset", task.group_id);
  }
  if (error.empty()) error = readInt(meta, "group_index", 0, task.group_index);
  std::optional<int> retries;
  if (error.empty()) error = readInt(meta, "retries", 0, retries);
  task.retries = retries.value_or(0);
  std::optional<int> nesting;
  if (error.empty()) error = readInt(meta, "replaced_task_nesting", 0, nesting);
  task.replaced_task_nesting = nesting.value_or(0);
  if (error.empty()) error = readTime(meta, "eta", task.eta);
  if (error.empty()) error = readTime(meta, "expires", task.expires);
  if (error.empty()) error = readTimeLimits(meta, task.time_limits);
  if (!error.empty()) return error;

  if (const json* ignore = field(meta, "ignore_result"); ignore != nullptr) {
    if (!ignore->is_boolean()) return typeError("ignore_result", "a boolean", *ignore);
    task.ignore_result = ignore->get<bool>();
  }
  if (const json* stamps = field(meta, "stamps"); stamps != nullptr) {
    if (!stamps->is_object()) return typeError("stamps", "an object", *stamps);
    task.stamps = *stamps;
  }
  if (const json* stamped = field(meta, "stamped_headers"); stamped != nullptr) {
    task.stamped_headers = *stamped;
  }
  readDisplay(meta, "shadow", task.shadow);
  readDisplay(meta, "origin", task.origin);
  readDisplay(meta, "argsrepr", task.argsrepr);
  readDisplay(meta, "kwargsrepr", task.kwargsrepr);
  return {};
}

json customHeaders(const json& headers) {
  json custom = json::object();
  if (!headers.is_object()) return custom;
  for (const auto& [key, value] : headers.items()) {
    if (startsWith(key, "x-death") || startsWith(key, "x-first-death") ||
        startsWith(key, "x-last-death")) {
      continue;
    }
    bool known = false;
    for (const std::string_view celery_key : kCeleryHeaders) known = known || key == celery_key;
    if (!known) custom[key] = value;
  }
  return custom;
}

}  // namespace celeriac::worker::celery
