#include "worker/amqp/ack_tracker.h"

namespace celeriac::worker::amqp {

void AckTracker::delivered(std::uint64_t tag) { states_.emplace(tag, State::kRunning); }

void AckTracker::finished(std::uint64_t tag) {
  auto it = states_.find(tag);
  if (it == states_.end() || it->second != State::kRunning) return;
  it->second = State::kFinished;
  ++ackable_;
}

void AckTracker::settled(std::uint64_t tag) {
  auto it = states_.find(tag);
  if (it == states_.end()) return;
  if (it->second == State::kFinished) --ackable_;
  it->second = State::kRejected;
}

AckTracker::Plan AckTracker::takeAcks() {
  Plan plan;
  // 1. The settled prefix: everything below the lowest running delivery.
  auto it = states_.begin();
  while (it != states_.end() && it->second != State::kRunning) {
    if (it->second == State::kFinished) {
      plan.multiple_up_to = it->first;
      --ackable_;
    }
    it = states_.erase(it);
  }
  // 2. Finished deliveries behind a running one: acked singly, never held back.
  if (ackable_ > 0) {
    for (; it != states_.end(); ) {
      if (it->second == State::kFinished) {
        plan.singles.push_back(it->first);
        --ackable_;
        it = states_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // A multiple-ack of a single delivery is just an ack: fine either way.
  return plan;
}

void AckTracker::reset() {
  states_.clear();
  ackable_ = 0;
}

}  // namespace celeriac::worker::amqp
