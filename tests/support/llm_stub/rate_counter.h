#pragma once
// RateCounter: the stub's own per-API-key limiter and witness, over a sliding 60 s window.
//
// For: (1) refusing requests beyond --rpm-limit per key, so overshoot by a client is
// caught by the stub rather than trusted; (2) remembering the most requests a key ever
// had inside any 60 s window, received and accepted, so tests can assert a limit was
// never exceeded; (3) noticing requests that arrive before a Retry-After we sent has
// passed. Not for: HTTP or JSON (Router and AdminApi speak those).
//
// Pure: time comes in as |now| (nghttp2's rate limiter style), so it is unit-testable.
// The maximum over all sliding windows is reached by a window that ends at some
// request, so checking the window size at every arrival gives the exact maximum.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "rate_limit_headers.h"
#include "reply.h"

namespace celeriac::testing::stub {

struct Admission {
  bool admitted = true;
  std::chrono::milliseconds retry_after{0};  // when refused: until one slot frees
};

struct KeyWindowStats {
  std::uint64_t window_received = 0;  // in the last 60 s, as of the latest request
  std::uint64_t window_accepted = 0;
  std::uint64_t max_window_received = 0;  // most in any 60 s window since reset
  std::uint64_t max_window_accepted = 0;
};

class RateCounter {
 public:
  static constexpr std::chrono::milliseconds kWindow{60'000};
  // Advertised in headers when a limit is off (0), so clients still see numbers.
  static constexpr std::uint64_t kNominalRequestLimit = 1'000'000;
  static constexpr std::uint64_t kNominalTokenLimit = 100'000'000;

  RateCounter(std::uint64_t rpm_limit, std::uint64_t tpm_limit)
      : rpm_limit_(rpm_limit), tpm_limit_(tpm_limit) {}

  void setLimits(std::uint64_t rpm_limit, std::uint64_t tpm_limit) {
    rpm_limit_ = rpm_limit;
    tpm_limit_ = tpm_limit;
  }
  [[nodiscard]] std::uint64_t rpmLimit() const { return rpm_limit_; }
  [[nodiscard]] std::uint64_t tpmLimit() const { return tpm_limit_; }

  // Every keyed API request, admitted or not. Returns true when it arrived while a
  // Retry-After we sent to this (key, model) was still running.
  bool recordReceived(const std::string& key, const std::string& model, WallTime now);

  // Admits the request (counting |tokens| against the token window) unless the key
  // already has rpm_limit accepted requests in the window, or the token limit is on and
  // would be passed. A refused request does not enter the accepted window.
  Admission admit(const std::string& key, WallTime now, std::uint64_t tokens);

  // Remembers that we told (key, model) to come back at |until|.
  void noteRetryAfter(const std::string& key, const std::string& model, WallTime until);

  [[nodiscard]] WindowSnapshot snapshot(const std::string& key, WallTime now);
  [[nodiscard]] std::map<std::string, KeyWindowStats> windowStats() const;

  void reset() { keys_.clear(); }

 private:
  struct Accepted {
    WallTime at;
    std::uint64_t tokens;
  };
  struct KeyState {
    std::deque<WallTime> received;
    std::deque<Accepted> accepted;
    std::uint64_t window_tokens = 0;
    KeyWindowStats stats;
    std::map<std::string, WallTime> retry_until;  // by model
  };

  void prune(KeyState& k, WallTime now);

  std::uint64_t rpm_limit_;
  std::uint64_t tpm_limit_;
  std::map<std::string, KeyState> keys_;
};

}  // namespace celeriac::testing::stub
