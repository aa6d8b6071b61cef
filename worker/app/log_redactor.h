#pragma once
// LogRedactor: masks credentials in log text before any line is written.
//
// Two kinds of masking, both replacing the secret with "***":
//  - registered secrets: exact values the process knows (API keys resolved from the
//    balancer config, broker and Redis passwords, secret-looking environment values),
//    masked wherever they appear, even inside provider error texts;
//  - patterns, for secrets nobody registered: the password of `scheme://user:PW@host`,
//    the value after `Authorization:` (keeping a `Bearer`/`Basic` scheme word), after
//    `Bearer `, `x-api-key:`/`api_key=`/`password=`/`secret:` (any value), after
//    `key=`/`token=` (only token-like values of 16+ characters, so `key=primary` aliases
//    stay readable), and provider-shaped keys anywhere (`sk-…`, `sk-ant-…`, `AIza…`,
//    `gsk_…`, `xai-…`, `hf_…`, `ghp_…`).
// Not for: result documents or anything else written outside the log sinks.
//
// Thread-safety: every member may be called from any thread at any time (spdlog sinks
// run on whichever thread logs, e.g. the loop or a shutdown path), so addSecret() may
// run while another thread redacts.

#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "balancer/config.h"

namespace celeriac::worker::app {

class LogRedactor {
 public:
  static constexpr std::string_view kMask = "***";
  // Shorter registered values are ignored: masking "guest" or "1" everywhere would
  // destroy ordinary words. Such values are still masked inside URLs by the patterns.
  static constexpr std::size_t kMinSecretLength = 6;

  // Masks `secret` from now on wherever it appears. Returns false (and registers
  // nothing) when it is shorter than kMinSecretLength; registering a value twice is
  // harmless.
  bool addSecret(std::string secret);
  [[nodiscard]] std::size_t secretCount() const;

  // The text with every registered secret and every pattern masked, or nullopt when
  // nothing needed masking (the common case, which allocates nothing).
  [[nodiscard]] std::optional<std::string> redactIfNeeded(std::string_view text) const;
  // The same, always returning the text.
  [[nodiscard]] std::string redact(std::string_view text) const;

 private:
  mutable std::shared_mutex mutex_;
  std::vector<std::string> secrets_;  // longest first: a secret containing another goes whole
};

// The process-wide redactor every log sink of the worker uses. Never destroyed, so a
// line logged during static destruction is still masked.
LogRedactor& logRedactor();

// Wraps a balancer SecretResolver: every key value it resolves is registered with
// `redactor` before the Balancer sees it. The app wires it where it builds the Balancer:
//   Balancer::create(config, ...,
//                    redactingResolver(ConfigLoader::secretResolver(env, &readFile)), ...)
balancer::SecretResolver redactingResolver(balancer::SecretResolver inner,
                                           LogRedactor& redactor = logRedactor());

}  // namespace celeriac::worker::app
