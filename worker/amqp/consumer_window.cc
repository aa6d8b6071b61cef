#include "worker/amqp/consumer_window.h"

#include <algorithm>
#include <limits>

namespace celeriac::worker::amqp {

namespace {
// A quarter of the window, at least one: how much room makes a re-creation worth it.
std::int64_t threshold(std::uint16_t wanted) { return std::max<std::int64_t>(1, wanted / 4); }

std::uint16_t clampPrefetch(std::int64_t p) {
  return static_cast<std::uint16_t>(
      std::clamp<std::int64_t>(p, 1, std::numeric_limits<std::uint16_t>::max()));
}
}  // namespace

void ConsumerWindow::reset(std::size_t slots, std::uint16_t prefetch, TimePoint now) {
  slots_.assign(slots, Slot{});
  for (Slot& s : slots_) {
    s.prefetch = prefetch;
    s.planned_for = prefetch;
    s.changed_at = now;
  }
  wanted_ = prefetch;
  stopped_ = false;
  retry_at_.reset();
}

void ConsumerWindow::delivered(std::size_t slot, std::uint64_t epoch) {
  if (slot >= slots_.size()) return;
  Slot& s = slots_[slot];
  // A delivery from a consumer cancelled meanwhile (it was already on its way).
  if (epoch == s.epoch && s.consuming) {
    ++s.unacked_current;
  } else {
    ++s.unacked_old;
  }
}

void ConsumerWindow::settled(std::size_t slot, std::uint64_t epoch) {
  if (slot >= slots_.size()) return;
  Slot& s = slots_[slot];
  if (epoch == s.epoch && s.consuming && s.unacked_current > 0) {
    --s.unacked_current;
  } else if (s.unacked_old > 0) {
    --s.unacked_old;
  }
}

void ConsumerWindow::addSlot(std::size_t slot, TimePoint now) {
  if (slot >= slots_.size()) {
    Slot gap;
    gap.consuming = false;
    gap.removed = true;
    slots_.resize(slot + 1, gap);
  }
  Slot& s = slots_[slot];
  s = Slot{};
  s.prefetch = wanted_;
  s.planned_for = wanted_;
  s.changed_at = now;
}

void ConsumerWindow::removeSlot(std::size_t slot) {
  if (slot >= slots_.size()) return;
  Slot& s = slots_[slot];
  s.unacked_old += s.unacked_current;
  s.unacked_current = 0;
  s.consuming = false;
  s.removed = true;
  s.prefetch = 0;
}

std::vector<ConsumerWindow::Step> ConsumerWindow::plan(TimePoint now) {
  std::vector<Step> steps;
  retry_at_.reset();
  if (stopped_) return steps;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].removed) continue;
    if (auto step = planSlot(i, slots_[i], now)) steps.push_back(*step);
  }
  return steps;
}

std::optional<ConsumerWindow::Step> ConsumerWindow::planSlot(std::size_t index, Slot& s,
                                                             TimePoint now) {
  const auto w = static_cast<std::int64_t>(wanted_);
  const auto old = static_cast<std::int64_t>(s.unacked_old);
  const auto unacked = old + static_cast<std::int64_t>(s.unacked_current);
  std::optional<std::int64_t> target;  // the new consumer's prefetch; <= 0: pause
  if (wanted_ == 0) {
    // Unlimited: one consumer with prefetch 0, whatever is outstanding.
    if (!s.consuming || s.prefetch != 0) target = 0;
  } else if (!s.consuming) {
    if (w - unacked >= threshold(wanted_))
      target = w - unacked;
    else
      s.planned_for = wanted_;  // stays paused; nothing to re-create for
  } else if (wanted_ != s.planned_for || s.prefetch == 0) {
    target = w - unacked;
    // The current consumer already has exactly that much room: keep it.
    if (*target >= 1 && s.prefetch != 0 &&
        static_cast<std::int64_t>(s.prefetch) - static_cast<std::int64_t>(s.unacked_current) ==
            *target) {
      s.planned_for = wanted_;
      target.reset();
    }
  } else if (w - old - static_cast<std::int64_t>(s.prefetch) >= threshold(wanted_)) {
    target = w - old;
  }
  if (!target) return std::nullopt;

  if (s.changed_at && now - *s.changed_at < kMinInterval) {
    const TimePoint due = *s.changed_at + kMinInterval;
    if (!retry_at_ || due < *retry_at_) retry_at_ = due;
    return std::nullopt;
  }

  Step step;
  step.slot = index;
  step.cancel_current = s.consuming;
  s.unacked_old += s.unacked_current;
  s.unacked_current = 0;
  s.epoch += 1;
  step.epoch = s.epoch;
  s.planned_for = wanted_;
  s.changed_at = now;
  if (wanted_ == 0) {
    s.consuming = true;
    s.prefetch = 0;
    step.prefetch = 0;
  } else if (*target >= 1) {
    s.consuming = true;
    s.prefetch = clampPrefetch(*target);
    step.prefetch = s.prefetch;
  } else {
    s.consuming = false;
    s.prefetch = 0;
  }
  return step;
}

}  // namespace celeriac::worker::amqp
