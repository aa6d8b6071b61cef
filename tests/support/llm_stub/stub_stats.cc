// StubStats: counters for /admin/stats (see stub_stats.h).

#include "stub_stats.h"

#include <algorithm>

namespace celeriac::testing::stub {

nlohmann::json TrafficCounters::toJson() const {
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [status, n] : by_status) statuses[std::to_string(status)] = n;
  return {{"received", received},
          {"served", served},
          {"rate_limited", rate_limited},
          {"limiter_rejections", limiter_rejections},
          {"faults_injected", faults_injected},
          {"faults", faults},
          {"received_during_retry_after", during_retry_after},
          {"dropped", dropped},
          {"in_flight", in_flight},
          {"by_status", statuses}};
}

void StubStats::connectionOpened() {
  ++connections_open_;
  ++connections_accepted_;
  connections_peak_ = std::max(connections_peak_, connections_open_);
}

void StubStats::connectionSpeaks(WireProtocol protocol) {
  if (protocol == WireProtocol::kUnknown) return;
  ProtocolConnections& c = protocol == WireProtocol::kHttp2 ? http2_ : http1_;
  ++c.accepted;
  ++c.open;
  c.peak = std::max(c.peak, c.open);
}

void StubStats::connectionUpgraded() {
  // Counted where it ended up: HTTP/1.1 only for what stayed HTTP/1.1.
  --http1_.open;
  --http1_.accepted;
  ++upgraded_;
  connectionSpeaks(WireProtocol::kHttp2);
}

void StubStats::connectionClosed(WireProtocol protocol) {
  --connections_open_;
  if (protocol == WireProtocol::kHttp1) --http1_.open;
  if (protocol == WireProtocol::kHttp2) --http2_.open;
}

nlohmann::json StubStats::toJson(const nlohmann::json& key_windows) const {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [k, c] : keys_) keys[k] = c.toJson();
  for (const auto& [k, w] : key_windows.items()) {
    if (!keys.contains(k)) keys[k] = TrafficCounters{}.toJson();
    keys[k].update(w);
  }
  nlohmann::json models = nlohmann::json::object();
  for (const auto& [m, c] : models_) models[m] = c.toJson();
  nlohmann::json totals = totals_.toJson();
  totals["requests_without_key"] = missing_key_;
  totals["in_flight_peak"] = in_flight_peak_;
  totals["connections_open"] = connections_open_;
  totals["connections_peak"] = connections_peak_;
  totals["connections_accepted"] = connections_accepted_;
  auto protocol = [](const ProtocolConnections& c) {
    return nlohmann::json{{"accepted", c.accepted}, {"open", c.open}, {"peak", c.peak}};
  };
  totals["connections_by_protocol"] = {{"HTTP/1.1", protocol(http1_)},
                                       {"HTTP/2", protocol(http2_)}};
  totals["connections_by_protocol"]["HTTP/2"]["upgraded_from_http1"] = upgraded_;
  nlohmann::json by_protocol = {{"HTTP/1.1", 0}, {"HTTP/2", 0}};
  for (const auto& [p, n] : requests_by_protocol_) by_protocol[p] = n;
  totals["requests_by_protocol"] = by_protocol;
  return {{"totals", totals}, {"keys", keys}, {"models", models}};
}

void StubStats::reset() {
  // In-flight replies still finish later and decrement; keep their count so gauges never
  // go negative.
  const std::int64_t in_flight = totals_.in_flight;
  std::map<std::string, std::int64_t> key_in_flight;
  std::map<std::string, std::int64_t> model_in_flight;
  for (const auto& [k, c] : keys_)
    if (c.in_flight != 0) key_in_flight[k] = c.in_flight;
  for (const auto& [m, c] : models_)
    if (c.in_flight != 0) model_in_flight[m] = c.in_flight;
  keys_.clear();
  models_.clear();
  totals_ = TrafficCounters{};
  for (const auto& [k, n] : key_in_flight) keys_[k].in_flight = n;
  for (const auto& [m, n] : model_in_flight) models_[m].in_flight = n;
  totals_.in_flight = in_flight;
  missing_key_ = 0;
  connections_peak_ = connections_open_;
  connections_accepted_ = 0;
  for (ProtocolConnections* c : {&http1_, &http2_}) {
    c->accepted = 0;
    c->peak = c->open;
  }
  requests_by_protocol_.clear();
  upgraded_ = 0;
  in_flight_peak_ = in_flight;
}

}  // namespace celeriac::testing::stub
