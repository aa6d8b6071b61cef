// Balancer call loop, picking: the loop's side of the Picker (routing/picker.h, which
// walks the chain and chooses the endpoint, model and key): reserve the pick's capacity
// and send it, or ask the shared store. Called from step(), start() and the wait queue.
// The map of the loop is at the top of balancer.cc; the contracts are in balancer.h.
#include <algorithm>

#include "balancer/balancer.h"
#include "core/balancer_call.h"
#include "core/balancer_impl.h"

namespace celeriac::balancer {

using std::chrono::milliseconds;

bool Balancer::Impl::tryStart(Call& c, SteadyTime& earliest, bool honor_latency) {
  const SteadyTime now = dispatcher_.clock().now();
  const std::optional<Picker::Pick> pick = picker_->pick(c, now, earliest, honor_latency);
  if (!pick) return false;
  if (pick->shared) {
    // Answers later, in onSharedAnswer().
    reserveShared(c, pick->endpoint, pick->key, pick->model, pick->tokens);
    return true;
  }
  const std::string& pool = endpoints_[pick->endpoint].keys[pick->key].pool;
  AdmissionDecision d = admission_.tryReserve(pool, pick->model, pick->tokens, now);
  if (d.reservation &&
      launch(c, pick->endpoint, pick->key, pick->model, std::move(*d.reservation), false)) {
    return true;
  }
  // Unreachable while the Picker's key check and canAttempt() agree; stay safe regardless.
  if (d.reservation) admission_.release(*d.reservation, now);
  earliest = std::min(earliest, now + milliseconds(1));
  return false;
}

bool Balancer::Impl::tryStartAny(Call& c, SteadyTime& earliest) {
  c.walk_started = dispatcher_.clock().now();
  if (tryStart(c, earliest, true)) return true;
  // Nothing fast enough could start: a slow answer beats none.
  return c.slow_skipped && tryStart(c, earliest, false);
}

}  // namespace celeriac::balancer
