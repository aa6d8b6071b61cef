// FaultPlan: parsing, matching and counting injected faults (see fault_plan.h).

#include "fault_plan.h"

#include <algorithm>
#include <array>
#include <utility>

namespace celeriac::testing::stub {
namespace {

struct KindName {
  FaultKind kind;
  std::string_view name;
};
constexpr std::array<KindName, 10> kKinds{{
    {FaultKind::kStatus, "status"},
    {FaultKind::kRateLimit, "rate_limit"},
    {FaultKind::kHang, "hang"},
    {FaultKind::kSlowDrip, "slow_drip"},
    {FaultKind::kMalformedJson, "malformed_json"},
    {FaultKind::kReset, "reset"},
    {FaultKind::kClose, "close"},
    {FaultKind::kInvalidJsonContent, "invalid_json_content"},
    {FaultKind::kSchemaViolation, "schema_violation"},
    {FaultKind::kLatency, "latency"},
}};

bool modelMatches(const std::string& pattern, const std::string& model) {
  if (pattern == "*" || pattern == model) return true;
  if (!pattern.empty() && pattern.back() == '*') {
    return model.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return false;
}

// Reads a non-negative integer field; false (with |error|) when present but not one.
bool readCount(const nlohmann::json& spec, const char* field, std::optional<std::uint64_t>& out,
               std::string& error) {
  if (!spec.contains(field)) return true;
  const auto& v = spec.at(field);
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
    error = std::string(field) + ": must be a non-negative integer";
    return false;
  }
  out = v.get<std::uint64_t>();
  return true;
}

}  // namespace

std::string_view faultKindName(FaultKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

nlohmann::json Fault::toJson() const {
  nlohmann::json j = {{"id", id},
                      {"fault", faultKindName(kind)},
                      {"model", model},
                      {"applied", applied},
                      {"count", remaining ? nlohmann::json(*remaining) : nlohmann::json(nullptr)}};
  if (key) j["key"] = *key;
  switch (kind) {
    case FaultKind::kStatus:
      j["status"] = status;
      if (body) j["body"] = *body;
      if (!headers.empty()) j["headers"] = headers;
      break;
    case FaultKind::kRateLimit:
      if (retry_after_s) j["retry_after_s"] = *retry_after_s;
      if (retry_after_ms) j["retry_after_ms"] = *retry_after_ms;
      if (retry_after_date) j["retry_after_date"] = true;
      if (!headers.empty()) j["headers"] = headers;
      break;
    case FaultKind::kSlowDrip:
      j["duration_ms"] = duration.count();
      j["chunk_bytes"] = chunk_bytes;
      break;
    case FaultKind::kLatency:
      j["ms"] = latency.count();
      break;
    default:
      break;
  }
  return j;
}

FaultParse parseFault(const nlohmann::json& spec) {
  FaultParse out;
  if (!spec.is_object()) return {std::nullopt, "fault spec must be a JSON object"};
  if (!spec.contains("fault") || !spec["fault"].is_string()) {
    return {std::nullopt,
            "fault: required string (status, rate_limit, hang, slow_drip, "
            "malformed_json, reset, close, invalid_json_content, schema_violation, "
            "latency)"};
  }
  Fault f;
  const auto name = spec["fault"].get<std::string>();
  const auto kind =
      std::find_if(kKinds.begin(), kKinds.end(), [&](const KindName& k) { return k.name == name; });
  if (kind == kKinds.end()) return {std::nullopt, "fault: unknown kind '" + name + "'"};
  f.kind = kind->kind;

  if (spec.contains("model")) {
    if (!spec["model"].is_string() || spec["model"].get<std::string>().empty()) {
      return {std::nullopt, "model: must be a non-empty string (\"*\" for every model)"};
    }
    f.model = spec["model"].get<std::string>();
  }
  if (spec.contains("key")) {
    if (!spec["key"].is_string()) return {std::nullopt, "key: must be a string"};
    f.key = spec["key"].get<std::string>();
  }
  if (!readCount(spec, "count", f.remaining, out.error)) return out;
  if (f.remaining && *f.remaining == 0) return {std::nullopt, "count: must be at least 1"};
  if (spec.contains("headers")) {
    if (!spec["headers"].is_object()) return {std::nullopt, "headers: must be an object"};
    for (const auto& [name_, value] : spec["headers"].items()) {
      if (!value.is_string()) return {std::nullopt, "headers." + name_ + ": must be a string"};
    }
    f.headers = spec["headers"];
  }

  std::optional<std::uint64_t> number;
  switch (f.kind) {
    case FaultKind::kStatus:
      if (!spec.contains("status") || !spec["status"].is_number_integer()) {
        return {std::nullopt, "status: required integer HTTP status"};
      }
      f.status = spec["status"].get<int>();
      if (f.status < 100 || f.status > 599) return {std::nullopt, "status: must be 100..599"};
      if (spec.contains("body")) f.body = spec["body"];
      break;
    case FaultKind::kRateLimit:
      if (spec.contains("retry_after_s")) {
        if (!spec["retry_after_s"].is_number() || spec["retry_after_s"].get<double>() < 0) {
          return {std::nullopt, "retry_after_s: must be a non-negative number"};
        }
        f.retry_after_s = spec["retry_after_s"].get<double>();
      }
      if (!readCount(spec, "retry_after_ms", number, out.error)) return out;
      if (number) f.retry_after_ms = static_cast<std::int64_t>(*number);
      if (spec.contains("retry_after_date")) {
        if (!spec["retry_after_date"].is_boolean()) {
          return {std::nullopt, "retry_after_date: must be a boolean"};
        }
        f.retry_after_date = spec["retry_after_date"].get<bool>();
      }
      break;
    case FaultKind::kSlowDrip:
      if (!readCount(spec, "duration_ms", number, out.error)) return out;
      if (number) f.duration = std::chrono::milliseconds(static_cast<std::int64_t>(*number));
      number.reset();
      if (!readCount(spec, "chunk_bytes", number, out.error)) return out;
      if (number) f.chunk_bytes = std::max<std::size_t>(1, static_cast<std::size_t>(*number));
      break;
    case FaultKind::kLatency:
      if (!readCount(spec, "ms", number, out.error)) return out;
      if (!number) return {std::nullopt, "ms: required non-negative integer"};
      f.latency = std::chrono::milliseconds(static_cast<std::int64_t>(*number));
      break;
    default:
      break;
  }
  out.fault = std::move(f);
  return out;
}

std::uint64_t FaultPlan::add(Fault fault) {
  fault.id = next_id_++;
  fault.applied = 0;
  faults_.push_back(std::move(fault));
  return faults_.back().id;
}

bool FaultPlan::remove(std::uint64_t id) {
  const auto it =
      std::find_if(faults_.begin(), faults_.end(), [&](const Fault& f) { return f.id == id; });
  if (it == faults_.end()) return false;
  faults_.erase(it);
  return true;
}

nlohmann::json FaultPlan::toJson() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : faults_) list.push_back(f.toJson());
  return list;
}

FaultMatch FaultPlan::take(const std::string& model, const std::string& key) {
  FaultMatch match;
  for (auto& f : faults_) {
    if (!modelMatches(f.model, model) || (f.key && *f.key != key)) continue;
    if (f.kind == FaultKind::kLatency) {
      match.extra_latency += f.latency;
    } else if (match.action) {
      continue;  // only the oldest non-latency fault answers
    } else {
      match.action = f;
    }
    ++f.applied;
    if (f.remaining) --*f.remaining;
  }
  std::erase_if(faults_, [](const Fault& f) { return f.remaining && *f.remaining == 0; });
  return match;
}

}  // namespace celeriac::testing::stub
