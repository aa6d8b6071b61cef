// Balancer call loop, waiting and ending: the wait queue for capacity (a call that step()
// could not start waits here for its timer, or for capacity offered back early) and
// ending calls (finish, failLater, cancel). The map of the loop is at the top of
// balancer.cc; the contracts are in balancer.h.
#include <algorithm>
#include <tuple>

#include "balancer/balancer.h"
#include "core/balancer_call.h"

namespace celeriac::balancer {

using std::chrono::microseconds;
using std::chrono::milliseconds;

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
    removeWaiter(c);
    armWaitTimer();
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
    removeWaiter(*call);
    armWaitTimer();
  }
  CallResult result{std::move(outcome), std::move(call->trace), call->request.takeChat()};
  if (call->done) call->done(std::move(result));
}

void Balancer::Impl::enqueueWait(Call& c, SteadyTime wake, std::string reason) {
  c.record({TraceEntry::Kind::kWait, sinceSubmit(c), "", "", "", std::move(reason),
            FailureClass::kNone, 0,
            std::chrono::duration_cast<microseconds>(wake - dispatcher_.clock().now()), 0});
  c.wait_key = WaitKey{wake, -c.request.queuePriority(), wait_seq_++, c.id};
  addWaiter(c);
  armWaitTimer();
}

void Balancer::Impl::addWaiter(Call& c) {
  c.waiting = true;
  waiting_.insert(c.wait_key);
  waiting_by_priority_.emplace(c.wait_key.neg_priority, c.wait_key.seq, c.id);
}

void Balancer::Impl::removeWaiter(Call& c) {
  c.waiting = false;
  waiting_.erase(c.wait_key);
  waiting_by_priority_.erase({c.wait_key.neg_priority, c.wait_key.seq, c.id});
}

void Balancer::Impl::offerCapacityToFirstWaiter() {
  if (waiting_by_priority_.empty()) return;
  const CallId id = std::get<2>(*waiting_by_priority_.begin());
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  const SteadyTime now = dispatcher_.clock().now();
  // What step() would end instead of trying: leave those to its timer.
  if (c.cancelled || now >= c.deadline || c.attempts >= config_.max_attempts) return;
  removeWaiter(c);
  SteadyTime earliest = SteadyTime::max();
  c.quiet = true;
  const bool started = tryStartAny(c, earliest);
  c.quiet = false;
  if (!started) addWaiter(c);  // same wake time and place: nothing was taken
  armWaitTimer();
}

// One dispatcher timer for the whole queue, armed for its earliest wake-up.
void Balancer::Impl::armWaitTimer() {
  if (waiting_.empty()) {
    if (wait_timer_ != 0) dispatcher_.cancel(wait_timer_);
    wait_timer_ = 0;
    return;
  }
  const SteadyTime front = waiting_.begin()->wake;
  if (wait_timer_ != 0 && wait_timer_at_ <= front) return;
  if (wait_timer_ != 0) dispatcher_.cancel(wait_timer_);
  const SteadyTime now = dispatcher_.clock().now();
  const auto delay = front > now ? std::chrono::ceil<milliseconds>(front - now) : milliseconds{0};
  wait_timer_at_ = front;
  wait_timer_ = dispatcher_.schedule(delay, lifetime_.guard([this] { onWaitTimer(); }));
}

void Balancer::Impl::onWaitTimer() {
  wait_timer_ = 0;
  const SteadyTime now = dispatcher_.clock().now();
  std::vector<WaitKey> due;
  while (!waiting_.empty() && waiting_.begin()->wake <= now) {
    const WaitKey w = *waiting_.begin();
    due.push_back(w);
    waiting_.erase(waiting_.begin());
    waiting_by_priority_.erase({w.neg_priority, w.seq, w.id});
  }
  // Among the calls due together, higher queue priority first, then first come.
  std::sort(due.begin(), due.end(), [](const WaitKey& a, const WaitKey& b) {
    return std::tie(a.neg_priority, a.seq) < std::tie(b.neg_priority, b.seq);
  });
  for (const WaitKey& w : due) {
    if (auto it = calls_.find(w.id); it != calls_.end()) {
      it->second->waiting = false;
      step(w.id);
    }
  }
  armWaitTimer();
}

}  // namespace celeriac::balancer
