#pragma once
// StubStats: what the stub saw, per API key and per model, for GET /admin/stats.
//
// For: counting requests received, answered (by status), rate limited, faulted, in
// flight, plus connection gauges (all, and per protocol: HTTP/1.1 and HTTP/2), and
// API requests per protocol. Not for: limiting (RateCounter) or deciding (Router).
// Pure counters on the loop thread; zeroed by POST /admin/reset.

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "http_message.h"

namespace celeriac::testing::stub {

struct TrafficCounters {
  std::uint64_t received = 0;            // keyed API requests that reached the stub
  std::uint64_t served = 0;              // 2xx responses fully written
  std::uint64_t rate_limited = 0;        // 429s decided (limiter + injected)
  std::uint64_t limiter_rejections = 0;  // 429s from the stub's own --rpm-limit
  std::uint64_t faults_injected = 0;     // requests a fault (other than latency) answered
  std::uint64_t during_retry_after = 0;  // received before a Retry-After we sent ran out
  std::uint64_t dropped = 0;             // replies never delivered (hang, reset, peer gone)
  std::int64_t in_flight = 0;
  std::map<std::string, std::uint64_t> faults;  // by kind
  std::map<int, std::uint64_t> by_status;       // delivered responses

  [[nodiscard]] nlohmann::json toJson() const;
};

class StubStats {
 public:
  TrafficCounters& key(const std::string& k) { return keys_[k]; }
  TrafficCounters& model(const std::string& m) { return models_[m]; }
  TrafficCounters& totals() { return totals_; }

  // Applies |fn| to the key's, the model's and the totals' counters alike.
  template <typename Fn>
  void each(const std::string& k, const std::string& m, Fn&& fn) {
    fn(keys_[k]);
    fn(models_[m]);
    fn(totals_);
  }

  void requestWithoutKey() { ++missing_key_; }
  // An API request (not /admin/) over "HTTP/1.1" or "HTTP/2".
  void requestOver(const std::string& protocol) { ++requests_by_protocol_[protocol]; }
  void connectionOpened();
  void connectionSpeaks(WireProtocol protocol);
  void connectionClosed(WireProtocol protocol);
  // Counted as HTTP/1.1 when its first bytes came; now HTTP/2 instead (and one of
  // HTTP/2's "upgraded_from_http1").
  void connectionUpgraded();
  // Call after changing in_flight so the peak follows.
  void notePeaks() { in_flight_peak_ = std::max(in_flight_peak_, totals_.in_flight); }

  // Keys, models and totals; |key_windows| (from RateCounter) is merged into "keys".
  [[nodiscard]] nlohmann::json toJson(const nlohmann::json& key_windows) const;
  // Zeroes everything except the open-connection gauge (those sockets still exist).
  void reset();

 private:
  std::map<std::string, TrafficCounters> keys_;
  std::map<std::string, TrafficCounters> models_;
  TrafficCounters totals_;
  std::uint64_t missing_key_ = 0;
  std::int64_t connections_open_ = 0;
  std::int64_t connections_peak_ = 0;
  std::uint64_t connections_accepted_ = 0;
  std::int64_t in_flight_peak_ = 0;
  // Per protocol: connections accepted (since reset), open now, and the peak open.
  struct ProtocolConnections {
    std::uint64_t accepted = 0;
    std::int64_t open = 0;
    std::int64_t peak = 0;
  };
  ProtocolConnections http1_;
  ProtocolConnections http2_;
  std::uint64_t upgraded_ = 0;
  std::map<std::string, std::uint64_t> requests_by_protocol_;
};

}  // namespace celeriac::testing::stub
