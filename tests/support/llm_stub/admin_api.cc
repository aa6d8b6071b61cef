// AdminApi: /admin/* endpoints (see admin_api.h and README.md).

#include "admin_api.h"

#include <charconv>
#include <string_view>

#include "response_builder.h"

namespace celeriac::testing::stub {
namespace {

Reply badRequest(const std::string& message) {
  return jsonReply(400, openAiError(message, "invalid_request_error"));
}

}  // namespace

Reply AdminApi::handle(const HttpRequest& request) {
  const std::string_view path = request.path();
  const std::string& m = request.method;
  if (path == "/admin/stats" && m == "GET") return jsonReply(200, statsJson());
  if (path == "/admin/health" && m == "GET") return jsonReply(200, {{"ok", true}});
  if (path == "/admin/reset" && m == "POST") {
    stats_.reset();
    counter_.reset();
    return jsonReply(200, {{"ok", true}});
  }
  if (path == "/admin/faults") {
    if (m == "GET") return jsonReply(200, {{"faults", faults_.toJson()}});
    if (m == "POST") return addFaults(request);
    if (m == "DELETE") {
      const std::size_t n = faults_.toJson().size();
      faults_.clear();
      return jsonReply(200, {{"cleared", n}});
    }
  }
  if (path.starts_with("/admin/faults/") && m == "DELETE") {
    const std::string_view id_text = path.substr(std::string_view("/admin/faults/").size());
    std::uint64_t id = 0;
    const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc{} || end != id_text.data() + id_text.size() || !faults_.remove(id)) {
      return jsonReply(
          404, openAiError("no fault with id " + std::string(id_text), "invalid_request_error"));
    }
    return jsonReply(200, {{"removed", id}});
  }
  if (path == "/admin/config") {
    if (m == "GET") return jsonReply(200, configJson());
    if (m == "POST") return updateConfig(request);
  }
  return jsonReply(404, openAiError("Unknown admin path " + std::string(path) + " for " + m,
                                    "invalid_request_error", "unknown_url"));
}

Reply AdminApi::addFaults(const HttpRequest& request) {
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded()) return badRequest("body is not valid JSON");
  // One spec or an array of specs; all are validated before any is armed.
  const nlohmann::json specs = body.is_array() ? body : nlohmann::json::array({body});
  std::vector<Fault> parsed;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    FaultParse p = parseFault(specs[i]);
    if (!p.fault) {
      return badRequest(body.is_array() ? "[" + std::to_string(i) + "]." + p.error : p.error);
    }
    parsed.push_back(std::move(*p.fault));
  }
  nlohmann::json ids = nlohmann::json::array();
  for (auto& f : parsed) ids.push_back(faults_.add(std::move(f)));
  nlohmann::json out = {{"ids", ids}};
  if (ids.size() == 1) out["id"] = ids[0];
  return jsonReply(200, out);
}

Reply AdminApi::updateConfig(const HttpRequest& request) {
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return badRequest("body must be a JSON object");
  StubConfig next = config_;
  for (const auto& [name, value] : body.items()) {
    const bool count = value.is_number_unsigned();
    if (name == "latency_ms" && count) {
      next.latency = std::chrono::milliseconds(value.get<std::int64_t>());
    } else if (name == "rpm_limit" && count) {
      next.rpm_limit = value.get<std::uint64_t>();
    } else if (name == "tpm_limit" && count) {
      next.tpm_limit = value.get<std::uint64_t>();
    } else if (name == "completion_tokens" && count) {
      next.completion_tokens = value.get<std::uint64_t>();
    } else if (name == "models" && value.is_array()) {
      next.models.clear();
      for (const auto& model : value) {
        if (!model.is_string()) return badRequest("models: must be an array of strings");
        next.models.push_back(model.get<std::string>());
      }
    } else {
      return badRequest(name +
                        ": unknown field or wrong type (latency_ms, rpm_limit, "
                        "tpm_limit, completion_tokens: non-negative integers; models: "
                        "array of strings)");
    }
  }
  config_ = std::move(next);
  counter_.setLimits(config_.rpm_limit, config_.tpm_limit);
  return jsonReply(200, configJson());
}

nlohmann::json AdminApi::configJson() const {
  return {{"latency_ms", config_.latency.count()},
          {"rpm_limit", config_.rpm_limit},
          {"tpm_limit", config_.tpm_limit},
          {"completion_tokens", config_.completion_tokens},
          {"embedding_dimensions", config_.embedding_dimensions},
          {"models", config_.models}};
}

nlohmann::json AdminApi::statsJson() const {
  nlohmann::json windows = nlohmann::json::object();
  for (const auto& [key, w] : counter_.windowStats()) {
    windows[key] = {{"window_received", w.window_received},
                    {"window_accepted", w.window_accepted},
                    {"max_window_received", w.max_window_received},
                    {"max_window_accepted", w.max_window_accepted}};
  }
  nlohmann::json out = stats_.toJson(windows);
  out["window_s"] = RateCounter::kWindow.count() / 1000;
  out["rpm_limit"] = counter_.rpmLimit();
  out["tpm_limit"] = counter_.tpmLimit();
  return out;
}

}  // namespace celeriac::testing::stub
