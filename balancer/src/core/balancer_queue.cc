// Balancer call loop, waiting and ending: the loop's side of the wait queue (a call that
// step() could not start waits in WaitQueue, core/wait_queue.h, for its wake-up or for
// capacity offered back early) and ending calls (finish, failLater, cancel). The map of
// the loop is at the top of balancer.cc; the contracts are in balancer.h.
#include <optional>

#include "balancer/balancer.h"
#include "core/balancer_call.h"
#include "core/balancer_impl.h"

namespace celeriac::balancer {

using std::chrono::microseconds;

void Balancer::Impl::cancel(CallId id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->cancelled) return;
  Call& c = *it->second;
  c.cancelled = true;
  if (c.reserving) {
    // Do not wait for the store: its answer now only settles the buckets (a grant is
    // refunded), and the call ends on the next loop turn.
    shared_.detach(*c.reserving);
    c.reserving.reset();
  }
  if (c.http) {
    transport_.cancel(*c.http);  // its completion (kCancelled) finishes the call
    return;
  }
  if (c.waiting) {
    c.waiting = false;
    waits_.remove(c.wait_place);
  }
  dispatcher_.post(lifetime_.guard([this, id] { step(id); }));
}

void Balancer::Impl::failLater(CallId id, CallFailure failure) {
  dispatcher_.post(lifetime_.guard([this, id, f = std::move(failure)] { finish(id, f); }));
}

void Balancer::Impl::finish(CallId id, std::variant<CallSuccess, CallFailure> outcome) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  if (call->reserving) shared_.detach(*call->reserving);
  if (call->waiting) {
    call->waiting = false;
    waits_.remove(call->wait_place);
  }
  CallResult result{std::move(outcome), std::move(call->trace), call->request.takeChat()};
  if (call->done) call->done(std::move(result));
}

void Balancer::Impl::enqueueWait(Call& c, SteadyTime wake, std::string reason) {
  c.record({TraceEntry::Kind::kWait, sinceSubmit(c), "", "", "", std::move(reason),
            FailureClass::kNone, 0,
            std::chrono::duration_cast<microseconds>(wake - dispatcher_.clock().now()), 0});
  c.waiting = true;
  c.wait_place = waits_.add(c.id, wake, c.request.queuePriority());
}

void Balancer::Impl::onWake(CallId id) {
  if (auto it = calls_.find(id); it != calls_.end()) {
    it->second->waiting = false;
    step(id);
  }
}

void Balancer::Impl::offerCapacityToFirstWaiter() {
  const std::optional<WaitQueue::Place> first = waits_.first();
  if (!first) return;
  auto it = calls_.find(first->id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  const SteadyTime now = dispatcher_.clock().now();
  // What step() would end instead of trying: leave those to its timer.
  if (c.cancelled || now >= c.deadline || c.attempts >= config_.max_attempts) return;
  const bool started = waits_.offer(c.wait_place, [&] {
    SteadyTime earliest = SteadyTime::max();
    c.waiting = false;
    c.quiet = true;
    const bool went = tryStartAny(c, earliest);
    c.quiet = false;
    return went;
  });
  c.waiting = !started;
}

}  // namespace celeriac::balancer
