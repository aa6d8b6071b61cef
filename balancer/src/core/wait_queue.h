#pragma once
// WaitQueue: the calls waiting for capacity, each until its wake-up time, with one
// dispatcher timer for all of them.
//
// For: the Balancer's call loop. A call that cannot start waits here until the first time
// a skipped candidate could take it; capacity that comes back early (a refund, a closed
// breaker) is offered to the first waiter by queue priority, then first come. Holds call
// ids only: what a wake-up does (step the call) is the owner's callback.
// Not for: deciding whether a call may start (the picker), nor ending calls.
// Ownership and threading: owned by the Balancer, on its loop. The wake callback runs from
// the dispatcher's timer, never inside add(), remove() or offer(); after the queue is
// destroyed its timer is cancelled and never calls back.

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>

#include "balancer/balancer.h"  // CallId
#include "common/dispatcher.h"
#include "common/lifetime_token.h"

namespace celeriac::balancer {

class WaitQueue {
 public:
  // One waiter's place: by wake time for the timer, by priority then arrival for offers.
  struct Place {
    SteadyTime wake{};
    int neg_priority = 0;  // higher queue priority first
    std::uint64_t seq = 0;
    CallId id = 0;
    auto operator<=>(const Place&) const = default;
  };
  // Called for each call whose wake-up time has come, already out of the queue; the calls
  // due together go higher queue priority first, then first come.
  using Wake = std::function<void(CallId)>;

  WaitQueue(Dispatcher& dispatcher, Wake wake);
  ~WaitQueue();
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Queues `id` until `wake`, behind every waiter of its `priority` already queued.
  Place add(CallId id, SteadyTime wake, int priority);
  // Takes a waiter out (cancelled or ended) before its wake-up.
  void remove(const Place& place);
  // The waiter capacity goes to first: highest priority, then first come.
  [[nodiscard]] std::optional<Place> first() const;
  // Takes `place` out and runs `start`; if that returns false the waiter goes back to the
  // same place (same wake time, still ahead of those who came later). Returns `start`'s.
  bool offer(const Place& place, const std::function<bool()>& start);

  [[nodiscard]] bool empty() const { return by_wake_.empty(); }
  [[nodiscard]] std::size_t size() const { return by_wake_.size(); }

 private:
  struct ByPriority {
    bool operator()(const Place& a, const Place& b) const {
      return std::tie(a.neg_priority, a.seq) < std::tie(b.neg_priority, b.seq);
    }
  };
  void insert(const Place& place);
  void erase(const Place& place);
  // One timer for the whole queue, armed for its earliest wake-up.
  void arm();
  void onTimer();

  Dispatcher& dispatcher_;
  Wake wake_;
  std::set<Place> by_wake_;                  // the timer's order
  std::set<Place, ByPriority> by_priority_;  // whom a freed slot goes to
  std::uint64_t next_seq_ = 0;
  TimerId timer_ = 0;
  SteadyTime timer_at_{};
  LifetimeToken lifetime_;  // guards the timer's callback
};

}  // namespace celeriac::balancer
