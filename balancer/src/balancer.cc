#include "balancer/balancer.h"

#include "balancer_call.h"

#include <algorithm>

#include "balancer/config_loader.h"
#include "balancer/provider_codec.h"
#include "balancer/rate_limit_info.h"

namespace celeriac::balancer {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

bool serves(const EndpointConfig& ep, std::string_view model) {
  return std::any_of(ep.models.begin(), ep.models.end(),
                     [&](const std::string& m) { return m == "*" || m == model; });
}

// With no Retry-After or reset header, a 429 pauses the key this long.
constexpr milliseconds kDefault429Pause{1'000};

}  // namespace

std::string_view toString(CallErrorKind kind) {
  switch (kind) {
    case CallErrorKind::kCallerError:
      return "caller_error";
    case CallErrorKind::kAllUnavailable:
      return "all_unavailable";
    case CallErrorKind::kDeadlineExceeded:
      return "deadline_exceeded";
    case CallErrorKind::kAttemptsExhausted:
      return "attempts_exhausted";
    case CallErrorKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

Balancer::Balancer(BalancerConfig config, Dispatcher& dispatcher, HttpTransport& transport,
                   const SecretResolver& resolve_secret, std::uint64_t seed)
    : config_(std::move(config)),
      dispatcher_(dispatcher),
      transport_(transport),
      seed_(seed),
      backoff_(config_.backoff, seed ^ 0xb0ffULL),
      alive_(std::make_shared<Balancer*>(this)) {
  ConfigLoader::validate(config_);
  const SteadyTime now = dispatcher_.clock().now();
  std::set<std::string> configured;
  for (std::size_t i = 0; i < config_.endpoints.size(); ++i) {
    const EndpointConfig& ec = config_.endpoints[i];
    EndpointState ep{ec, {}, RetryBudget(config_.retry_budget), 0, {}};
    for (std::size_t k = 0; k < ec.keys.size(); ++k) {
      const ApiKeyConfig& key = ec.keys[k];
      auto secret = resolve_secret ? resolve_secret(key.secret) : std::nullopt;
      if (!secret) {
        const std::string where =
            key.secret.env.empty() ? "file " + key.secret.file : "env var " + key.secret.env;
        throw ConfigError("endpoints[" + std::to_string(i) + "].keys[" + std::to_string(k) + "]",
                          "key '" + key.alias + "': no secret found in " + where);
      }
      const std::string& group = key.quota_group.empty() ? ec.quota_group : key.quota_group;
      ep.keys.push_back(
          {key.alias, std::move(*secret), group.empty() ? key.alias : "group:" + group, false});
    }
    if (ep.keys.empty()) ep.keys.push_back({"-", "", "endpoint:" + ec.name, false});
    for (const KeyState& key : ep.keys) {
      for (const auto& [model, limits] : ec.limits) {
        // A quota group is configured once: its keys share one pair of buckets.
        if (configured.insert(key.pool + '\x1f' + model).second) {
          admission_.configure(key.pool, model, limits, now);
        }
      }
    }
    endpoints_.push_back(std::move(ep));
  }
}

Balancer::~Balancer() {
  alive_.reset();  // in-flight completions and timers now find us gone
  if (wait_timer_ != 0) dispatcher_.cancel(wait_timer_);
  for (auto& [id, call] : calls_) {
    if (call->http) transport_.cancel(*call->http);
  }
}

Balancer::Target& Balancer::target(std::size_t endpoint, std::string_view model) {
  auto& targets = endpoints_[endpoint].targets;
  auto it = targets.find(model);
  if (it == targets.end()) {
    it = targets
             .emplace(std::string(model),
                      Target{CircuitBreaker(config_.breaker), PeakEwma(), TargetStats(), 0})
             .first;
  }
  return it->second;
}

Strategy& Balancer::strategyFor(const Call& call, std::string_view model) {
  // One strategy per (kind, model) so that weighted/round-robin state is per model.
  const StrategyKind kind = call.strategy.value_or(config_.strategy);
  std::string key(toString(kind));
  key.append("/").append(model);
  auto it = strategies_.find(key);
  if (it == strategies_.end()) {
    it = strategies_.emplace(key, makeStrategy(kind, seed_ + strategies_.size())).first;
  }
  return *it->second;
}

double Balancer::blendedPrice(std::string_view model) const {
  const auto it = config_.pricing.find(std::string(model));
  if (it == config_.pricing.end()) return 0;
  // Chat replies run shorter than prompts; weigh input 3:1 as a neutral guess.
  return (3 * it->second.input_per_mtok + it->second.output_per_mtok) / 4;
}

microseconds Balancer::sinceSubmit(const Call& call) const {
  return std::chrono::duration_cast<microseconds>(dispatcher_.clock().now() - call.submitted);
}

CallId Balancer::submit(ChatRequest request, Callback done) {
  const CallId id = next_id_++;
  auto call = std::make_unique<Call>();
  call->id = id;
  call->done = std::move(done);
  call->submitted = dispatcher_.clock().now();
  call->deadline = call->submitted + request.timeout.value_or(config_.timeout);
  call->prompt_tokens = estimatePromptTokens(request);
  std::optional<CallFailure> bad;
  if (!request.model.empty()) {
    call->chain.push_back(request.model);
    if (config_.fallback_on_failure) {
      if (auto it = config_.fallbacks.find(request.model); it != config_.fallbacks.end()) {
        call->chain.insert(call->chain.end(), it->second.begin(), it->second.end());
      }
    }
  } else {
    for (const RouteConfig& r : config_.routes) {
      if (r.task_type == request.task_type && r.priority == request.priority) {
        call->chain = r.models;
        call->strategy = r.strategy;
      }
    }
    if (call->chain.empty()) {
      bad = CallFailure{CallErrorKind::kCallerError,
                        "no route for task_type '" + request.task_type + "' priority '" +
                            request.priority + "' and no model given",
                        0,
                        FailureClass::kCallerError,
                        std::nullopt,
                        std::nullopt,
                        0};
    }
  }
  if (!bad && request.messages.empty()) {
    bad = CallFailure{CallErrorKind::kCallerError,
                      "request has no messages",
                      0,
                      FailureClass::kCallerError,
                      std::nullopt,
                      std::nullopt,
                      0};
  }
  call->request = std::move(request);
  calls_.emplace(id, std::move(call));
  if (bad) {
    failLater(id, std::move(*bad));
  } else {
    // Never start inside submit(): the first step runs on a later loop turn.
    dispatcher_.post([weak = std::weak_ptr<Balancer*>(alive_), id] {
      if (auto self = weak.lock()) (*self)->step(id);
    });
  }
  return id;
}

void Balancer::step(CallId id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->http) return;
  Call& c = *it->second;
  const SteadyTime now = dispatcher_.clock().now();
  auto failure = [&](CallErrorKind kind, std::string message) {
    return CallFailure{kind,         std::move(message), 0,         c.last_failure,
                       std::nullopt, std::nullopt,       c.attempts};
  };
  if (c.cancelled) return finish(id, failure(CallErrorKind::kCancelled, "cancelled"));
  if (now >= c.deadline) {
    return finish(id, failure(CallErrorKind::kDeadlineExceeded, "deadline exceeded"));
  }
  if (c.attempts >= config_.max_attempts) {
    return finish(id, failure(CallErrorKind::kAttemptsExhausted,
                              "gave up after " + std::to_string(c.attempts) +
                                  " attempts; last: " + std::string(toString(c.last_failure)) +
                                  (c.last_message.empty() ? "" : " (" + c.last_message + ")")));
  }
  SteadyTime earliest = SteadyTime::max();
  if (tryStart(c, earliest)) return;
  const SteadyTime limit = std::min(c.deadline, now + config_.max_queue_wait);
  if (earliest <= limit) return enqueueWait(c, earliest, "capacity");
  CallFailure f = failure(CallErrorKind::kAllUnavailable, "no candidate available");
  if (earliest != SteadyTime::max()) {
    f.retry_at = earliest;
    f.retry_at_wall = dispatcher_.clock().wallNow() +
                      std::chrono::duration_cast<WallTime::duration>(earliest - now);
  }
  finish(id, std::move(f));
}

// Walks the chain; on the first model with an admissible candidate, picks, reserves and
// sends. Otherwise lowers `earliest` to the first time any skipped candidate could go.
bool Balancer::tryStart(Call& c, SteadyTime& earliest) {
  const SteadyTime now = dispatcher_.clock().now();
  std::vector<Candidate> candidates;
  std::vector<std::size_t> chosen_key;
  for (const std::string& model : c.chain) {
    candidates.clear();
    chosen_key.clear();
    for (std::size_t e = 0; e < endpoints_.size(); ++e) {
      EndpointState& ep = endpoints_[e];
      if (!serves(ep.config, model)) continue;
      Target& t = target(e, model);
      auto skip = [&](std::string reason, std::string alias, SteadyTime retry_at) {
        c.trace.push_back({TraceEntry::Kind::kSkipped,
                           sinceSubmit(c),
                           ep.config.name,
                           model,
                           std::move(alias),
                           std::move(reason),
                           FailureClass::kNone,
                           0,
                           {}});
        earliest = std::min(earliest, retry_at);
      };
      if (!t.breaker.canAttempt(now)) {
        skip("breaker_open", "", t.breaker.retryAt(now));
        continue;
      }
      if (auto nb = c.not_before.find({e, model}); nb != c.not_before.end() && now < nb->second) {
        skip("backoff", "", nb->second);
        continue;
      }
      if (c.attempts > 0 && !ep.budget.canRetry(now)) {
        skip("retry_budget", "", now + std::chrono::seconds(1));
        continue;
      }
      const double tokens = static_cast<double>(
          c.prompt_tokens +
          resolveSettings(c.request, ep.config, model, config_.default_max_tokens).max_tokens);
      // Keys in turn from the endpoint's cursor, so load spreads over a replica's keys.
      std::optional<std::size_t> usable;
      std::optional<AdmissionDecision> refusal;
      std::size_t refused_key = 0;
      for (std::size_t n = 0; n < ep.keys.size() && !usable; ++n) {
        const std::size_t k = (ep.key_cursor + n) % ep.keys.size();
        if (ep.keys[k].invalid) continue;
        AdmissionDecision d = admission_.check(ep.keys[k].pool, model, tokens, now);
        if (d.verdict == AdmissionVerdict::kAdmitted) {
          usable = k;
        } else if (!refusal || d.retry_at < refusal->retry_at) {
          refusal = d;
          refused_key = k;
        }
      }
      if (!usable) {
        if (refusal) {
          skip(std::string(toString(refusal->verdict)), ep.keys[refused_key].alias,
               refusal->retry_at);
        } else {
          skip("key_invalid", "", SteadyTime::max());
        }
        continue;
      }
      candidates.push_back({static_cast<std::uint32_t>(e),
                            ep.config.weight * t.breaker.loadFactor(now), t.in_flight,
                            t.latency.micros(), blendedPrice(model)});
      chosen_key.push_back(*usable);
    }
    if (candidates.empty()) continue;

    const std::size_t pick = strategyFor(c, model).pick(candidates);
    const std::size_t e = candidates[pick].id;
    EndpointState& ep = endpoints_[e];
    const std::size_t k = chosen_key[pick];
    ep.key_cursor = k + 1;
    Target& t = target(e, model);
    const RequestSettings settings =
        resolveSettings(c.request, ep.config, model, config_.default_max_tokens);
    AdmissionDecision d = admission_.tryReserve(
        ep.keys[k].pool, model, static_cast<double>(c.prompt_tokens + settings.max_tokens), now);
    c.trial = t.breaker.state(now) == BreakerState::kHalfOpen;
    if (!d.reservation || !t.breaker.tryAcquire(now)) {
      // Unreachable while check() and canAttempt() above agree; stay safe regardless.
      if (d.reservation) admission_.release(*d.reservation, now);
      earliest = std::min(earliest, now + milliseconds(1));
      return false;
    }
    HttpRequest http = codecFor(ep.config.provider)
                           .buildRequest(c.request, settings, ep.config, ep.keys[k].secret);
    // The transport enforces our deadline too, so no separate deadline timer is needed.
    const auto left = std::chrono::ceil<milliseconds>(c.deadline - now);
    http.total_timeout = std::min(http.total_timeout, left);
    http.connect_timeout = std::min(http.connect_timeout, http.total_timeout);
    if (c.attempts == 0) {
      ep.budget.recordRequest(now);
    } else {
      ep.budget.recordRetry(now);
    }
    ++c.attempts;
    ++t.in_flight;
    t.stats.recordRequest();
    ++total_requests_;
    c.endpoint = e;
    c.key = k;
    c.model = model;
    c.reservation = std::move(d.reservation);
    c.started = now;
    const CallId id = c.id;
    c.http = transport_.send(std::move(http),
                             [weak = std::weak_ptr<Balancer*>(alive_), id](HttpResponse r) {
                               if (auto self = weak.lock()) (*self)->onResponse(id, std::move(r));
                             });
    return true;
  }
  return false;
}

void Balancer::onResponse(CallId id, HttpResponse response) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  c.http.reset();
  const SteadyTime now = dispatcher_.clock().now();
  const auto latency = std::chrono::duration_cast<microseconds>(now - c.started);
  EndpointState& ep = endpoints_[c.endpoint];
  Target& t = target(c.endpoint, c.model);
  --t.in_flight;
  const KeyState& key = ep.keys[c.key];
  const Reservation reservation = *c.reservation;
  c.reservation.reset();

  const RateLimitInfo limits =
      parseRateLimitHeaders(response.headers, dispatcher_.clock().wallNow());
  if (!limits.empty()) admission_.syncFromHeaders(key.pool, c.model, limits, now);

  const ProviderCodec& codec = codecFor(ep.config.provider);
  FailureClass fc = classify(response);
  std::optional<ChatCompletion> completion;
  if (fc == FailureClass::kNone) {
    completion = codec.parseResponse(response.body);
    if (!completion) fc = FailureClass::kMalformed;
  }
  c.trace.push_back({TraceEntry::Kind::kAttempt,
                     std::chrono::duration_cast<microseconds>(c.started - c.submitted),
                     ep.config.name, c.model, key.alias,
                     fc == FailureClass::kNone ? "ok" : std::string(toString(fc)), fc,
                     response.status, latency});
  const bool trial = std::exchange(c.trial, false);

  if (fc == FailureClass::kNone) {
    const auto usage = completion->usage;
    admission_.reconcile(
        reservation,
        usage ? std::optional<double>(static_cast<double>(usage->total())) : std::nullopt, now);
    t.breaker.onSuccess(now);
    t.latency.observe(latency, now);
    double cost = 0;
    if (auto p = config_.pricing.find(c.model); p != config_.pricing.end() && usage) {
      cost = (static_cast<double>(usage->input_tokens) * p->second.input_per_mtok +
              static_cast<double>(usage->output_tokens) * p->second.output_per_mtok) /
             1e6;
    }
    t.stats.recordSuccess(latency, usage ? usage->input_tokens : 0,
                          usage ? usage->output_tokens : 0, cost);
    ++total_success_;
    CallSuccess ok{std::move(completion->content),
                   c.model,
                   std::move(completion->model),
                   ep.config.name,
                   key.alias,
                   latency,
                   sinceSubmit(c),
                   usage,
                   cost,
                   c.attempts};
    return finish(id, std::move(ok));
  }

  ++total_failures_;
  t.stats.recordFailure(fc, latency);
  if (response.error == TransportError::kNone) {
    c.last_message = codec.errorMessage(response.body);
    if (c.last_message.empty()) c.last_message = "HTTP " + std::to_string(response.status);
  } else {
    c.last_message = response.error_detail;
  }
  c.last_failure = fc;
  if (fc == FailureClass::kRateLimited) {
    // The request counted against the provider's RPM; its tokens most likely did not.
    admission_.reconcile(reservation, 0.0, now);
  } else if (fc == FailureClass::kKeyInvalid) {
    admission_.release(reservation, now);
  } else {
    admission_.reconcile(reservation, std::nullopt, now);  // unknown usage: no refund
  }
  if (countsAgainstEndpoint(fc)) {
    t.breaker.onFailure(now);
  } else if (trial) {
    t.breaker.onAbandon(now);
  }

  if (c.cancelled || fc == FailureClass::kCancelled) {
    return finish(id, CallFailure{CallErrorKind::kCancelled, "cancelled", 0, fc, std::nullopt,
                                  std::nullopt, c.attempts});
  }
  if (fc == FailureClass::kCallerError) {
    return finish(id, CallFailure{CallErrorKind::kCallerError, c.last_message, response.status, fc,
                                  std::nullopt, std::nullopt, c.attempts});
  }
  if (fc == FailureClass::kKeyInvalid) {
    ep.keys[c.key].invalid = true;  // other keys of this endpoint stay usable at once
  } else if (fc == FailureClass::kRateLimited) {
    admission_.pauseUntil(key.pool, c.model,
                          now + limits.pauseAfter429().value_or(kDefault429Pause));
  } else {
    const auto target_key = std::make_pair(c.endpoint, c.model);
    const int tries = ++c.tries[target_key];
    c.not_before[target_key] = now + backoff_.delay(tries - 1);
  }
  step(id);
}

}  // namespace celeriac::balancer
