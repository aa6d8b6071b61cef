// WaitQueue: the contracts are in wait_queue.h.
#include "core/wait_queue.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <vector>

namespace celeriac::balancer {

WaitQueue::WaitQueue(Dispatcher& dispatcher, Wake wake)
    : dispatcher_(dispatcher), wake_(std::move(wake)) {}

WaitQueue::~WaitQueue() {
  lifetime_.revoke();
  if (timer_ != 0) dispatcher_.cancel(timer_);
}

WaitQueue::Place WaitQueue::add(CallId id, SteadyTime wake, int priority) {
  const Place place{wake, -priority, next_seq_++, id};
  insert(place);
  arm();
  return place;
}

void WaitQueue::remove(const Place& place) {
  erase(place);
  arm();
}

std::optional<WaitQueue::Place> WaitQueue::first() const {
  if (by_priority_.empty()) return std::nullopt;
  return *by_priority_.begin();
}

bool WaitQueue::offer(const Place& place, const std::function<bool()>& start) {
  erase(place);
  const bool started = start();
  if (!started) insert(place);  // same wake time and place: nothing was taken
  arm();
  return started;
}

void WaitQueue::insert(const Place& place) {
  by_wake_.insert(place);
  by_priority_.insert(place);
}

void WaitQueue::erase(const Place& place) {
  by_wake_.erase(place);
  by_priority_.erase(place);
}

void WaitQueue::arm() {
  if (by_wake_.empty()) {
    if (timer_ != 0) dispatcher_.cancel(timer_);
    timer_ = 0;
    return;
  }
  const SteadyTime front = by_wake_.begin()->wake;
  if (timer_ != 0 && timer_at_ <= front) return;
  if (timer_ != 0) dispatcher_.cancel(timer_);
  const SteadyTime now = dispatcher_.clock().now();
  const auto delay = front > now ? std::chrono::ceil<std::chrono::milliseconds>(front - now)
                                 : std::chrono::milliseconds{0};
  timer_at_ = front;
  timer_ = dispatcher_.schedule(delay, lifetime_.guard([this] { onTimer(); }));
}

void WaitQueue::onTimer() {
  timer_ = 0;
  const SteadyTime now = dispatcher_.clock().now();
  std::vector<Place> due;
  while (!by_wake_.empty() && by_wake_.begin()->wake <= now) {
    due.push_back(*by_wake_.begin());
    erase(due.back());
  }
  // Among the calls due together, higher queue priority first, then first come.
  std::sort(due.begin(), due.end(), ByPriority{});
  for (const Place& place : due) wake_(place.id);
  arm();
}

}  // namespace celeriac::balancer
