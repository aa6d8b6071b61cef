#include "worker/celery/task_fields.h"

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

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

Error typeError(const char* key, const char* expected, const json& value) {
  return Error{std::string("'") + key + "' must be " + expected + " or null, got " +
               value.type_name()};
}

// Ids and names the worker acts on: string or absent/null.
Result<void> readId(const json& meta, const char* key, std::string& out) {
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

Result<void> readInt(const json& meta, const char* key, int min_value, std::optional<int>& out) {
  const json* value = field(meta, key);
  if (value == nullptr) return {};
  const std::optional<long long> number = asInteger(*value);
  if (!number || *number < min_value || *number > std::numeric_limits<int>::max()) {
    return typeError(key, ("an integer >= " + std::to_string(min_value)).c_str(), *value);
  }
  out = static_cast<int>(*number);
  return {};
}

Result<void> readTime(const json& meta, const char* key,
                      std::optional<std::chrono::system_clock::time_point>& out) {
  const json* value = field(meta, key);
  if (value == nullptr) return {};
  if (!value->is_string()) return typeError(key, "an ISO-8601 string", *value);
  out = parseIsoTime(value->get_ref<const std::string&>());
  if (!out) {
    // Python raises InvalidTaskError here and rejects the message.
    return Error{std::string("invalid ") + key + " '" + value->get<std::string>() +
                 "': expected ISO-8601 like 2026-11-22T23:59:29.886040+00:00"};
  }
  return {};
}

// timelimit = [hard, soft] (Celery's docs say the opposite). 0 means no limit, as in Python.
Result<void> readTimeLimits(const json& meta, TimeLimits& out) {
  const json* value = field(meta, "timelimit");
  if (value == nullptr) return {};
  if (!value->is_array() || value->size() != 2) {
    return Error{"'timelimit' must be [hard, soft] (two numbers or nulls)"};
  }
  std::optional<double>* targets[] = {&out.hard_s, &out.soft_s};
  for (std::size_t i = 0; i < 2; ++i) {
    const json& limit = (*value)[i];
    if (limit.is_null()) continue;
    if (!limit.is_number() || !std::isfinite(limit.get<double>()) || limit.get<double>() < 0) {
      return Error{"'timelimit' must be [hard, soft] with non-negative numbers or nulls"};
    }
    if (limit.get<double>() > 0) *targets[i] = limit.get<double>();
  }
  return {};
}

// The fields read into `task` one after the other; the first wrong one is the error.
Result<void> readActedOnFields(const json& meta, int protocol, TaskMessage& task) {
  for (const auto& [key, out] : {std::pair<const char*, std::string*>{"root_id", &task.root_id},
                                 {"parent_id", &task.parent_id},
                                 {"group", &task.group_id}}) {
    if (auto read = readId(meta, key, *out); !read) return read;
  }
  // v1: `taskset` is the old name of `group`.
  if (protocol == 1 && task.group_id.empty()) {
    if (auto read = readId(meta, "taskset", task.group_id); !read) return read;
  }
  if (auto read = readInt(meta, "group_index", 0, task.group_index); !read) return read;
  std::optional<int> retries;
  if (auto read = readInt(meta, "retries", 0, retries); !read) return read;
  task.retries = retries.value_or(0);
  std::optional<int> nesting;
  if (auto read = readInt(meta, "replaced_task_nesting", 0, nesting); !read) return read;
  task.replaced_task_nesting = nesting.value_or(0);
  if (auto read = readTime(meta, "eta", task.eta); !read) return read;
  if (auto read = readTime(meta, "expires", task.expires); !read) return read;
  return readTimeLimits(meta, task.time_limits);
}

}  // namespace

Result<void> readTaskFields(const json& meta, int protocol, TaskMessage& task) {
  if (!meta.is_object()) return Error{"task metadata must be an object"};

  // The two fields Python's worker requires.
  const json* id = field(meta, "id");
  if (id == nullptr || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    return Error{"missing task id: 'id' must be a non-empty string"};
  }
  task.id = id->get<std::string>();
  const json* name = field(meta, "task");
  if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return Error{"missing task name: 'task' must be a non-empty string"};
  }
  task.task = name->get<std::string>();

  if (auto read = readActedOnFields(meta, protocol, task); !read) return read;

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
