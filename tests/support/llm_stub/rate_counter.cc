// RateCounter: sliding-window limiter and witness (see rate_counter.h).

#include "rate_counter.h"

#include <algorithm>

namespace celeriac::testing::stub {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

void RateCounter::prune(KeyState& k, WallTime now) {
  // The window is (now - 60 s, now]: a request exactly 60 s old has left it.
  const WallTime horizon = now - kWindow;
  while (!k.received.empty() && k.received.front() <= horizon) k.received.pop_front();
  while (!k.accepted.empty() && k.accepted.front().at <= horizon) {
    k.window_tokens -= k.accepted.front().tokens;
    k.accepted.pop_front();
  }
}

bool RateCounter::recordReceived(const std::string& key, const std::string& model, WallTime now) {
  KeyState& k = keys_[key];
  prune(k, now);
  k.received.push_back(now);
  k.stats.window_received = k.received.size();
  k.stats.max_window_received = std::max(k.stats.max_window_received, k.stats.window_received);
  const auto it = k.retry_until.find(model);
  return it != k.retry_until.end() && now < it->second;
}

Admission RateCounter::admit(const std::string& key, WallTime now, std::uint64_t tokens) {
  KeyState& k = keys_[key];
  prune(k, now);
  const bool rpm_full = rpm_limit_ > 0 && k.accepted.size() >= rpm_limit_;
  const bool tpm_full =
      tpm_limit_ > 0 && !k.accepted.empty() && k.window_tokens + tokens > tpm_limit_;
  if (rpm_full || tpm_full) {
    // One slot frees when the oldest accepted request leaves the window.
    const auto wait = duration_cast<milliseconds>(k.accepted.front().at + kWindow - now);
    return Admission{false, std::max(wait, milliseconds(1))};
  }
  k.accepted.push_back(Accepted{now, tokens});
  k.window_tokens += tokens;
  k.stats.window_accepted = k.accepted.size();
  k.stats.max_window_accepted = std::max(k.stats.max_window_accepted, k.stats.window_accepted);
  return Admission{};
}

void RateCounter::noteRetryAfter(const std::string& key, const std::string& model, WallTime until) {
  WallTime& slot = keys_[key].retry_until[model];
  slot = std::max(slot, until);  // a later Retry-After never shortens an earlier one
}

WindowSnapshot RateCounter::snapshot(const std::string& key, WallTime now) {
  KeyState& k = keys_[key];
  prune(k, now);
  WindowSnapshot w;
  w.request_limit = rpm_limit_ > 0 ? rpm_limit_ : kNominalRequestLimit;
  w.token_limit = tpm_limit_ > 0 ? tpm_limit_ : kNominalTokenLimit;
  const auto used = static_cast<std::uint64_t>(k.accepted.size());
  w.request_remaining = used >= w.request_limit ? 0 : w.request_limit - used;
  w.token_remaining = k.window_tokens >= w.token_limit ? 0 : w.token_limit - k.window_tokens;
  // OpenAI's reset is "until the limit is back to its initial state": for a sliding
  // window that is when the newest accepted request leaves it.
  const milliseconds reset =
      k.accepted.empty() ? milliseconds(0)
                         : duration_cast<milliseconds>(k.accepted.back().at + kWindow - now);
  w.requests_reset = reset;
  w.tokens_reset = reset;
  return w;
}

std::map<std::string, KeyWindowStats> RateCounter::windowStats() const {
  std::map<std::string, KeyWindowStats> out;
  for (const auto& [key, state] : keys_) out.emplace(key, state.stats);
  return out;
}

}  // namespace celeriac::testing::stub
