// Balancer: the call loop, in six files under balancer/src/core/, over the parts it owns
// (balancer_impl.h lists them). One call goes round this loop until it ends (the
// contracts are in balancer.h, one call's state in balancer_call.h):
//
//   submit() -> start()      balancer.cc           the model chain, checked by the Picker;
//                                                  tried at once unless calls are waiting
//   step()                   balancer.cc           end the call (cancelled, past its
//                                                  deadline, out of attempts), try it, or
//                                                  make it wait
//   tryStartAny()            balancer_pick.cc      the Picker (routing/picker.h) walks the
//                                                  chain; reserve the pick and send it
//   reserveShared() ...      balancer_shared.cc    admission of shared keys (answers later,
//                                                  admission/shared_admission.h)
//   launch()                 balancer.cc           the breaker's slot; send
//   onResponse()             balancer_response.cc  classify the outcome, act, step() again
//   enqueueWait(), finish()  balancer_queue.cc     the wait queue (core/wait_queue.h);
//                                                  ending a call
//   stats()                  balancer_stats.cc     the JSON snapshot
//
// This file: the public Balancer (each call forwarded to its Impl), construction (the
// endpoints and their keys, admission limits, the health checker, the Picker), and start,
// step and launch.
#include "balancer/balancer.h"

#include "core/balancer_call.h"
#include "core/balancer_impl.h"

#include <algorithm>

#include "balancer/config_loader.h"
#include "health/health_checker.h"
#include "providers/provider_codec.h"

namespace celeriac::balancer {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

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

namespace {

// Every key's secret, by endpoint and key, or an Error naming the first key without one.
common::Result<std::vector<std::vector<std::string>>> resolveSecrets(
    const BalancerConfig& config, const SecretResolver& resolve_secret) {
  std::vector<std::vector<std::string>> secrets;
  for (std::size_t i = 0; i < config.endpoints.size(); ++i) {
    std::vector<std::string>& of_endpoint = secrets.emplace_back();
    for (std::size_t k = 0; k < config.endpoints[i].keys.size(); ++k) {
      const ApiKeyConfig& key = config.endpoints[i].keys[k];
      auto secret = resolve_secret ? resolve_secret(key.secret) : std::nullopt;
      if (!secret) {
        const std::string where =
            key.secret.env.empty() ? "file " + key.secret.file : "env var " + key.secret.env;
        return common::Error{"key '" + key.alias + "': no secret found in " + where}.in(
            "endpoints[" + std::to_string(i) + "].keys[" + std::to_string(k) + "]");
      }
      of_endpoint.push_back(std::move(*secret));
    }
  }
  return secrets;
}

}  // namespace

common::Result<std::unique_ptr<Balancer>> Balancer::create(
    BalancerConfig config, Dispatcher& dispatcher, HttpTransport& transport,
    const SecretResolver& resolve_secret, std::uint64_t seed, SharedBucketStore* shared_store) {
  if (auto valid = ConfigLoader::validate(config); !valid) return valid.error();
  auto secrets = resolveSecrets(config, resolve_secret);
  if (!secrets) return secrets.error();
  return std::unique_ptr<Balancer>(new Balancer(std::make_unique<Impl>(
      std::move(config), std::move(*secrets), dispatcher, transport, seed, shared_store)));
}

Balancer::Balancer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Balancer::~Balancer() = default;

CallId Balancer::submit(ChatRequest request, Callback done) {
  return impl_->submit(std::move(request), std::move(done));
}

CallId Balancer::submit(EmbeddingRequest request, Callback done) {
  return impl_->submit(std::move(request), std::move(done));
}

void Balancer::cancel(CallId id) { impl_->cancel(id); }

std::size_t Balancer::callsInFlight() const { return impl_->callsInFlight(); }

void Balancer::setAttemptObserver(AttemptObserver observer) {
  impl_->setAttemptObserver(std::move(observer));
}

nlohmann::json Balancer::stats() { return impl_->stats(); }

Balancer::Impl::Impl(BalancerConfig config, std::vector<std::vector<std::string>> secrets,
                     Dispatcher& dispatcher, HttpTransport& transport, std::uint64_t seed,
                     SharedBucketStore* shared_store)
    : config_(std::move(config)),
      dispatcher_(dispatcher),
      transport_(transport),
      endpoints_(config_.breaker, admission_, dispatcher.clock()),
      shared_(shared_store, dispatcher, admission_),
      backoff_(config_.backoff, seed ^ 0xb0ffULL),
      waits_(dispatcher, [this](CallId id) { onWake(id); }) {
  const SteadyTime now = dispatcher_.clock().now();
  std::set<std::string> configured;
  for (std::size_t i = 0; i < config_.endpoints.size(); ++i) {
    const EndpointConfig& ec = config_.endpoints[i];
    EndpointState ep{ec, {}, RetryBudget(config_.retry_budget), 0, {}};
    for (std::size_t k = 0; k < ec.keys.size(); ++k) {
      const ApiKeyConfig& key = ec.keys[k];
      const std::string& group = key.quota_group.empty() ? ec.quota_group : key.quota_group;
      ep.keys.push_back({key.alias, std::move(secrets[i][k]),
                         group.empty() ? key.alias : "group:" + group, false,
                         key.shared.value_or(ec.shared)});
    }
    if (ep.keys.empty()) ep.keys.push_back({"-", "", "endpoint:" + ec.name, false, ec.shared});
    for (const KeyState& key : ep.keys) {
      for (const auto& [model, limits] : ec.limits) {
        // A quota group is configured once: its keys share one pair of buckets.
        if (!configured.insert(key.pool + '\x1f' + model).second) continue;
        if (key.shared) {
          shared_.configure(key.pool, model, limits, ec.replicas, now);
        } else {
          admission_.configure(key.pool, model, limits, now);
        }
      }
    }
    endpoints_.add(std::move(ep));
  }
  if (config_.health_check.enabled) {
    // A probe carries the endpoint's auth headers (a /models GET needs them), built by
    // its codec like a chat request, then turned into a GET of the probe path.
    std::vector<HttpRequest> probes;
    for (const EndpointState& ep : endpoints_) {
      HttpRequest probe =
          codecFor(ep.config.provider)
              .buildRequest(ChatRequest{}, RequestSettings{}, ep.config, ep.keys.front().secret);
      probe.method = "GET";
      probe.url = ep.config.base_url + config_.health_check.path;
      probe.body.clear();
      probes.push_back(std::move(probe));
    }
    health_ = std::make_unique<HealthChecker>(config_.health_check, dispatcher_, transport_,
                                              std::move(probes));
    health_->start();
  }
  picker_.emplace(config_, endpoints_, admission_, shared_, health_.get(), dispatcher_.clock(),
                  seed);
}

Balancer::Impl::~Impl() {
  lifetime_.revoke();  // in-flight completions and timers now find us gone
  for (auto& [id, call] : calls_) {
    if (call->http) transport_.cancel(*call->http);
  }
}

microseconds Balancer::Impl::sinceSubmit(const Call& call) const {
  return std::chrono::duration_cast<microseconds>(dispatcher_.clock().now() - call.submitted);
}

CallId Balancer::Impl::submit(ChatRequest request, Callback done) {
  return start(ApiRequest(std::move(request)), std::move(done));
}

CallId Balancer::Impl::submit(EmbeddingRequest request, Callback done) {
  return start(ApiRequest(std::move(request)), std::move(done));
}

CallId Balancer::Impl::start(ApiRequest request, Callback done) {
  const CallId id = next_id_++;
  auto call = std::make_unique<Call>(std::move(request));
  const ApiRequest& req = call->request;
  call->id = id;
  call->done = std::move(done);
  call->submitted = dispatcher_.clock().now();
  call->deadline = call->submitted + req.timeout().value_or(config_.timeout);
  common::Result<void> callable;
  if (!req.model().empty()) {
    call->chain.push_back(req.model());
    if (config_.fallback_on_failure) {
      if (auto it = config_.fallbacks.find(req.model()); it != config_.fallbacks.end()) {
        call->chain.insert(call->chain.end(), it->second.begin(), it->second.end());
      }
    }
  } else {
    for (const RouteConfig& r : config_.routes) {
      if (r.task_type == req.taskType() && r.priority == req.priority()) {
        call->chain = r.models;
        call->strategy = r.strategy;
      }
    }
    if (call->chain.empty()) {
      callable = common::Error{"no route for task_type '" + req.taskType() + "' priority '" +
                               req.priority() + "' and no model given"};
    }
  }
  if (callable) callable = req.validate();
  if (callable) callable = picker_->checkServed(*call);
  if (callable) callable = picker_->checkConstraints(*call);
  Call& c = *calls_.emplace(id, std::move(call)).first->second;
  if (!callable) {
    failLater(id, CallFailure{CallErrorKind::kCallerError, callable.error().message, 0,
                              FailureClass::kCallerError, std::nullopt, std::nullopt, 0});
    return id;
  }
  // Fast path: with nobody queued ahead, send (or ask the store) now instead of a loop
  // turn later; a loop turn is most of the latency the Balancer adds. Safe because
  // neither the transport nor the store ever answers inside the call that asked, so
  // `done` still never fires inside submit(). Anything else (a wait, a failure, the
  // end of the call) is left to step() on a later turn, which walks the chain again.
  SteadyTime earliest = SteadyTime::max();
  if (waits_.empty() && c.submitted < c.deadline && config_.max_attempts > 0 &&
      tryStartAny(c, earliest)) {
    return id;
  }
  c.trace.clear();  // the skips step() is about to record again
  dispatcher_.post(lifetime_.guard([this, id] { step(id); }));
  return id;
}

void Balancer::Impl::step(CallId id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->http || it->second->reserving) return;
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
  if (tryStartAny(c, earliest)) return;
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

// Takes the breaker slot and sends. False (nothing changed, the reservation still held by
// the caller) when the breaker refuses.
bool Balancer::Impl::launch(Call& c, std::size_t e, std::size_t k, const std::string& model,
                            Reservation reservation, bool remote) {
  const SteadyTime now = dispatcher_.clock().now();
  EndpointState& ep = endpoints_[e];
  Target& t = endpoints_.target(e, model);
  const bool trial = t.breaker.state(now) == BreakerState::kHalfOpen;
  if (!t.breaker.tryAcquire(now)) return false;
  c.trial = trial;
  HttpRequest http = c.request.build(codecFor(ep.config.provider), ep.config, model,
                                     ep.keys[k].secret, config_.default_max_tokens);
  // The transport enforces our deadline too, so no separate deadline timer is needed.
  const auto left = std::chrono::ceil<milliseconds>(c.deadline - now);
  http.total_timeout = std::min(http.total_timeout, std::max(left, milliseconds(1)));
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
  // A store grant is mirrored in the local share (AdmissionControl::record), which then
  // holds everything this replica sent should the store become unavailable.
  if (remote) {
    admission_.record(reservation.pool, model, reservation.tokens, now);
    reservation.admitted_at = now;
  }
  c.reservation = std::move(reservation);
  c.remote_reservation = remote;
  c.started = now;
  // A shared reservation's answer came from Redis: the walk's start is that long ago,
  // so the overhead counts from this launch instead.
  const SteadyTime sending = dispatcher_.clock().now();
  c.send_overhead = sending - (remote ? now : c.walk_started);
  const CallId id = c.id;
  c.http = transport_.send(std::move(http), lifetime_.guard([this, id](HttpResponse r) {
    onResponse(id, std::move(r));
  }));
  return true;
}

}  // namespace celeriac::balancer
