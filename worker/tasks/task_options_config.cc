#include "worker/tasks/task_options_config.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include "worker/celery/rate_limit.h"

namespace celeriac::worker::tasks {

namespace {

using nlohmann::json;

constexpr double kMaxLimitSeconds = 86400.0 * 365;  // a year: longer is surely a mistake

// How an option's setter (below, a table of small readers) stops at a bad value;
// mergeTaskOptions() catches it and returns its Error, so it never leaves this file.
struct OptionRefusal {
  common::Error error;
};

[[noreturn]] void fail(const std::string& task, const std::string& option,
                       const std::string& what) {
  throw OptionRefusal{
      common::Error{"tasks config: task_options." + task + "." + option + ": " + what}};
}

bool boolean(const std::string& task, const std::string& option, const json& v) {
  if (!v.is_boolean()) fail(task, option, "must be true or false, not " + v.dump());
  return v.get<bool>();
}

double seconds(const std::string& task, const std::string& option, const json& v, bool zero_ok) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
      (!zero_ok && v.get<double>() == 0) || v.get<double>() > kMaxLimitSeconds) {
    fail(task, option,
         std::string("must be a number of seconds ") + (zero_ok ? ">= 0" : "> 0") +
             " and at most a year, not " + v.dump());
  }
  return v.get<double>();
}

int integer(const std::string& task, const std::string& option, const json& v, int min, int max) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > max) {
    fail(task, option,
         "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
             ", not " + v.dump());
  }
  return static_cast<int>(v.get<std::int64_t>());
}

using Setter = std::function<void(TaskOptions&, const std::string& task, const json&)>;

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"time_limit", [](TaskOptions& o, const std::string& t,
                        const json& v) { o.time_limit = seconds(t, "time_limit", v, false); }},
      {"soft_time_limit",
       [](TaskOptions& o, const std::string& t, const json& v) {
         o.soft_time_limit = seconds(t, "soft_time_limit", v, false);
       }},
      {"rate_limit",
       [](TaskOptions& o, const std::string& t, const json& v) {
         // Celery accepts "10/m", "10/s", "10/h" or a bare number per second.
         if (!v.is_string() && !v.is_number()) {
           fail(t, "rate_limit", "must be a string like \"10/m\" or a number, not " + v.dump());
         }
         const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
         const Result<celery::RateLimit> parsed = celery::parseRateLimit(text);
         if (!parsed)
           fail(t, "rate_limit", "invalid rate limit " + v.dump() + ": " + parsed.error().message);
         o.rate_limit = text;
       }},
      {"ignore_result", [](TaskOptions& o, const std::string& t,
                           const json& v) { o.ignore_result = boolean(t, "ignore_result", v); }},
      {"acks_late", [](TaskOptions& o, const std::string& t,
                       const json& v) { o.acks_late = boolean(t, "acks_late", v); }},
      {"acks_on_failure_or_timeout",
       [](TaskOptions& o, const std::string& t, const json& v) {
         o.acks_on_failure_or_timeout = boolean(t, "acks_on_failure_or_timeout", v);
       }},
      {"reject_on_worker_lost",
       [](TaskOptions& o, const std::string& t, const json& v) {
         o.reject_on_worker_lost = boolean(t, "reject_on_worker_lost", v);
       }},
      {"max_retries",
       [](TaskOptions& o, const std::string& t, const json& v) {
         // null: retry without limit, as Python's None.
         if (v.is_null()) {
           o.max_retries.reset();
         } else {
           o.max_retries = integer(t, "max_retries", v, 0, 1'000'000);
         }
       }},
      {"default_retry_delay",
       [](TaskOptions& o, const std::string& t, const json& v) {
         o.default_retry_delay = std::chrono::milliseconds(
             std::llround(seconds(t, "default_retry_delay", v, true) * 1000.0));
       }},
      {"autoretry_for",
       [](TaskOptions& o, const std::string& t, const json& v) {
         if (!v.is_array()) fail(t, "autoretry_for", "must be a list of exception type names");
         std::vector<std::string> names;
         for (const json& item : v) {
           const std::string text = item.is_string() ? item.get<std::string>() : std::string();
           const bool ok =
               !text.empty() && text.find_first_not_of(
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789_.") == std::string::npos;
           if (!ok) fail(t, "autoretry_for", "not an exception type name: " + item.dump());
           names.push_back(text);
         }
         o.autoretry_for = std::move(names);
       }},
      {"retry_backoff",
       [](TaskOptions& o, const std::string& t, const json& v) {
         // Celery: int(retry_backoff), so true is a factor of 1 and false turns it off.
         o.retry_backoff =
             v.is_boolean() ? (v.get<bool>() ? 1 : 0) : integer(t, "retry_backoff", v, 0, 86400);
       }},
      {"retry_backoff_max",
       [](TaskOptions& o, const std::string& t, const json& v) {
         o.retry_backoff_max = integer(t, "retry_backoff_max", v, 0, 31'536'000);
       }},
      {"retry_jitter", [](TaskOptions& o, const std::string& t,
                          const json& v) { o.retry_jitter = boolean(t, "retry_jitter", v); }},
      {"track_started", [](TaskOptions& o, const std::string& t,
                           const json& v) { o.track_started = boolean(t, "track_started", v); }},
      {"priority", [](TaskOptions& o, const std::string& t,
                      const json& v) { o.priority = integer(t, "priority", v, 0, 255); }},
  };
  return table;
}

std::string knownOptions() {
  std::string out;
  for (const auto& [name, setter] : setters()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

common::Result<TaskOptions> mergeTaskOptions(TaskOptions base, const std::string& task,
                                             const json& options) {
  if (!options.is_object()) {
    return common::Error{"tasks config: task_options." + task +
                         ": must be a mapping of option names to values"};
  }
  try {
    for (const auto& [name, value] : options.items()) {
      const auto it = setters().find(name);
      if (it == setters().end()) fail(task, name, "unknown option (known: " + knownOptions() + ")");
      it->second(base, task, value);
    }
  } catch (const OptionRefusal& refusal) {
    return refusal.error;
  }
  return base;
}

common::Result<std::map<std::string, json>> parseTaskOptionsSection(const json& doc) {
  std::map<std::string, json> out;
  if (!doc.is_object()) return out;
  const auto section = doc.find("task_options");
  if (section == doc.end() || section->is_null()) return out;
  if (!section->is_object()) {
    return common::Error{"tasks config: task_options must be a mapping of task names"};
  }
  for (const auto& [task, options] : section->items()) {
    if (auto checked = mergeTaskOptions(TaskOptions{}, task, options); !checked) {
      return checked.error();
    }
    out.emplace(task, options);
  }
  return out;
}

common::Result<void> applyTaskOptions(TaskRegistry& registry,
                                      const std::map<std::string, json>& section,
                                      const std::set<std::string>& served_elsewhere) {
  for (const auto& [task, options] : section) {
    const TaskRegistry::Entry* entry = registry.find(task);
    if (entry == nullptr) {
      if (served_elsewhere.contains(task)) continue;
      std::string names;
      for (const std::string& n : registry.names()) names += (names.empty() ? "" : ", ") + n;
      return common::Error{"tasks config: task_options." + task +
                           ": no such task on this worker (it serves: " + names + ")"};
    }
    auto merged = mergeTaskOptions(entry->options, task, options);
    if (!merged) return merged.error();
    registry.setOptions(task, std::move(*merged));
  }
  return {};
}

common::Result<void> configureTaskOptions(TaskRegistry& registry, const std::filesystem::path& file,
                                          const std::filesystem::path& data_root) {
  if (file.empty()) return {};
  std::ifstream in(file);
  if (!in) return common::Error{"cannot read tasks config " + file.string()};
  std::ostringstream text;
  text << in.rdbuf();
  const auto doc = yamlToJson(text.str());
  if (!doc) return doc.error();
  // Our own check first: it names the task and the option; the schema's words are vaguer.
  const auto section = parseTaskOptionsSection(*doc);
  if (!section) return section.error();
  const auto llm = parseLlmTasksConfig(*doc, file.parent_path(), data_root);
  if (!llm) return llm.error();
  return applyTaskOptions(registry, *section,
                          {llm->analyze.name, llm->generate.name, "celeriac.llm_stats"});
}

}  // namespace celeriac::worker::tasks
