// Balancer call loop, shared keys: the loop's side of SharedAdmission (the store, its
// answers, the local-share fallback and its pushes are there, admission/
// shared_admission.h). The map of the loop is at the top of balancer.cc; the contracts
// (and the picture of the reserve's three answers) are in balancer.h.
//
// Why asynchronous: the store answers from Redis, on a later loop turn. Meanwhile the
// call is "reserving" (Call::reserving, the reserve's id): step() leaves it alone,
// cancel() and finish() detach it at once (a late grant is then refunded), and the
// answer resumes it in onSharedAnswer().
#include <set>

#include "balancer/balancer.h"
#include "core/balancer_call.h"
#include "core/balancer_impl.h"

namespace celeriac::balancer {

void Balancer::Impl::reserveShared(Call& c, std::size_t e, std::size_t k, const std::string& model,
                                   double tokens) {
  c.reserving = shared_.reserve(endpoints_[e].keys[k].pool, model, tokens, c.deadline,
                                [this, id = c.id, e, k, model](SharedAdmission::Answer answer) {
                                  onSharedAnswer(id, e, k, model, std::move(answer));
                                });
}

void Balancer::Impl::onSharedAnswer(CallId id, std::size_t e, std::size_t k,
                                    const std::string& model, SharedAdmission::Answer answer) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // cannot happen: finish() detaches the reserve
  Call& c = *it->second;
  c.reserving.reset();
  const SteadyTime now = dispatcher_.clock().now();
  // (A cancelled call is detached by cancel(), so its answer never comes here; the check
  // below only keeps a grant from going out should that ever change.)
  if (answer.reservation) {
    if (!c.cancelled && launch(c, e, k, model, *answer.reservation, answer.remote)) {
      if (!answer.remote) shared_.sentOnLocalShare(*answer.reservation, now);
      return;
    }
    if (answer.remote) {
      shared_.refund(*answer.reservation);  // no trace: the walk below says what holds
    } else {
      admission_.release(*answer.reservation, now);
      answer.refusal = "breaker_open";
    }
  }
  if (!answer.refusal.empty()) {
    c.recordSkip(sinceSubmit(c), endpoints_[e].config.name, model, endpoints_[e].keys[k].alias,
                 std::string(answer.refusal));
  }
  // Not sent: walk the candidates again (another key, a wait, or the end of the call).
  step(id);
}

void Balancer::Impl::releaseReservation(const Reservation& r, bool remote) {
  admission_.release(r, dispatcher_.clock().now());
  if (remote) shared_.refund(r);
}

void Balancer::Impl::reconcileReservation(const Reservation& r, bool remote,
                                          std::optional<double> actual_tokens) {
  admission_.reconcile(r, actual_tokens, dispatcher_.clock().now());
  if (remote && actual_tokens) shared_.reconcile(r, *actual_tokens);  // unknown: no refund
}

nlohmann::json Balancer::Impl::sharedStats() const {
  std::set<std::string_view> pools;
  for (const auto& ep : endpoints_) {
    for (const auto& key : ep.keys) {
      if (key.shared) pools.insert(key.pool);
    }
  }
  return shared_.stats(pools.size());
}

}  // namespace celeriac::balancer
