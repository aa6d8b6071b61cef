#pragma once
// Router: the stub's policy. Turns one parsed request into one Reply.
//
// For: path dispatch (API endpoints and /admin/*), API-key extraction, body validation,
// fault application, the per-key RPM limit, token usage, rate-limit headers, and the
// counters behind /admin/stats. Not for: sockets or timers (Connection delivers the
// Reply, including its delay). Pure apart from reading the time it is given, so it can be
// driven directly by tests.
//
// Order of decisions for an API request (POST /v1/chat/completions, /v1/embeddings,
// /v1/messages):
//   no API key ──▶ 401          body not a JSON object / no "model" ──▶ 400
//   counted as received (per key, per model, and in the key's sliding window)
//   fault plan: latency faults add delay; the oldest other matching fault answers
//     (status, rate_limit, hang, reset, malformed_json answer without the limiter;
//      slow_drip, invalid_json_content, schema_violation shape a normal answer)
//   limiter: over --rpm-limit (or --tpm-limit) ──▶ 429 + Retry-After, no delay
//   normal answer + rate-limit headers, after --latency-ms + fault latency
//     + x-stub-latency-ms request header

#include <cstdint>
#include <string>

#include "admin_api.h"
#include "chat_content.h"
#include "fault_plan.h"
#include "rate_counter.h"
#include "request_handler.h"
#include "stub_config.h"
#include "stub_stats.h"

namespace celeriac::testing::stub {

class Router final : public RequestHandler {
 public:
  explicit Router(StubConfig config);

  Reply handle(const HttpRequest& request, WallTime now) override;
  void finished(const Reply& reply, bool delivered) override;
  void connectionOpened() override { stats_.connectionOpened(); }
  void connectionSpeaks(WireProtocol protocol) override { stats_.connectionSpeaks(protocol); }
  void connectionUpgraded() override { stats_.connectionUpgraded(); }
  [[nodiscard]] std::chrono::milliseconds upgradeDelay() const override {
    return config_.h2c_upgrade_delay;
  }
  void connectionClosed(WireProtocol protocol) override { stats_.connectionClosed(protocol); }

 private:
  enum class Api { kChat, kEmbeddings, kMessages };

  Reply handleApi(const HttpRequest& request, Api api, WallTime now);
  Reply answer(Api api, const nlohmann::json& body, const std::string& model, ContentMode mode,
               WallTime now, std::uint64_t& tokens);
  Reply statusFault(Api api, const Fault& fault) const;
  Reply rateLimitFault(Api api, const Fault& fault, WallTime now,
                       std::chrono::milliseconds& wait) const;
  Reply limiterRefusal(Api api, const std::string& key, std::chrono::milliseconds wait,
                       WallTime now);
  Reply error(Api api, int status, const std::string& message, const std::string& code = "") const;
  void track(Reply& reply, const std::string& key, const std::string& model);

  StubConfig config_;
  FaultPlan faults_;
  RateCounter counter_;
  StubStats stats_;
  AdminApi admin_;  // borrows the members above; declared after them
  std::uint64_t next_id_ = 1;
};

// The API key of a request: "Authorization: Bearer <key>", else "x-api-key", else
// "api-key" (Azure). Empty when none.
[[nodiscard]] std::string apiKeyOf(const HttpRequest& request);

}  // namespace celeriac::testing::stub
