#pragma once
// ConsumerWindow: run-time prefetch changes for quorum queues, done by re-creating
// consumers.
//
// Why: a prefetch change must take effect while consuming (one more slot per held ETA
// task, as Celery does; fewer while every model is down). For classic queues the
// worker uses a channel-wide basic.qos (global=1), which RabbitMQ applies at once, as
// Celery 5.2 does. Quorum queues refuse global QoS, and a per-consumer basic.qos only
// applies to consumers created after it (RabbitMQ "Consumer Prefetch" guide). So the
// consumer is cancelled and consumed again with the new prefetch. Its unacked
// deliveries stay on the channel (acks are per channel) but no longer count against
// any consumer's prefetch, so the new prefetch is compensated for them:
//
//   new prefetch = wanted - (unacked deliveries of this queue, old consumers included)
//
// Without that, ten held ETA tasks plus one would give a new consumer eleven fresh
// slots, each held task raising it again. Rules, per consumed queue ("slot"):
//
//   wanted changed             -> re-create with wanted - unacked (<= 0: cancel, pause)
//   paused, room >= wanted/4   -> consume again with wanted - unacked
//   old consumers drained so   -> re-create with wanted - (old consumers' unacked);
//   room >= wanted/4              it may overshoot by the current consumer's unacked
//                                 until they finish (bounded: at most a few rounds,
//                                 since each only happens when a quarter is free)
//   otherwise                  -> leave it
//
// where room = wanted - old unacked - current prefetch. wanted 0 means unlimited. A
// slot changes at most once per kMinInterval (a burst of held ETA tasks is one
// change); retryAt() says when a deferred change is due. A consumer re-created with
// the prefetch it already effectively has is not re-created.
//
// Pure: no I/O, time given by the caller. Loop thread (AmqpConnection).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace celeriac::worker::amqp {

class ConsumerWindow {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::milliseconds kMinInterval{200};

  // What to do to one slot's consumer, in this order: cancel the current consumer (if
  // `cancel_current`), then, if `prefetch` is set, basic.qos(prefetch, global=0) and
  // basic.consume for the consumer named by `epoch`. No prefetch: the slot is paused.
  struct Step {
    std::size_t slot = 0;
    std::uint64_t epoch = 0;
    bool cancel_current = false;
    std::optional<std::uint16_t> prefetch;
  };

  // A new channel: `slots` consumers, each consuming at epoch 0 with `prefetch`.
  void reset(std::size_t slots, std::uint16_t prefetch, TimePoint now);
  void setWanted(std::uint16_t wanted) { wanted_ = wanted; }
  // Deliveries and their settlement (ack or reject), by the consumer that got them.
  void delivered(std::size_t slot, std::uint64_t epoch);
  void settled(std::size_t slot, std::uint64_t epoch);
  // A queue consumed from now on (AmqpConnection::addQueue): slot `slot` (the window
  // grows to hold it; slots skipped on the way stay removed) consumes at epoch 0 with
  // prefetch wanted(), which the caller sends in its basic.consume.
  void addSlot(std::size_t slot, TimePoint now);
  // A queue no longer consumed (removeQueue): its consumer was cancelled; plan() leaves
  // the slot alone from now on, its deliveries still settle.
  void removeSlot(std::size_t slot);
  // Consumers cancelled for good (shutdown): plan() returns nothing from now on.
  void stop() { stopped_ = true; }

  // The changes to make now; they are applied to the window's own state.
  std::vector<Step> plan(TimePoint now);
  // When a change held back by kMinInterval is due (nullopt: none waiting).
  [[nodiscard]] std::optional<TimePoint> retryAt() const { return retry_at_; }

  [[nodiscard]] std::uint16_t wanted() const { return wanted_; }
  [[nodiscard]] std::size_t slots() const { return slots_.size(); }
  [[nodiscard]] bool consuming(std::size_t slot) const { return slots_[slot].consuming; }
  [[nodiscard]] std::uint16_t prefetch(std::size_t slot) const { return slots_[slot].prefetch; }
  [[nodiscard]] std::uint64_t epoch(std::size_t slot) const { return slots_[slot].epoch; }
  // Unacked deliveries of the slot, current and old consumers together.
  [[nodiscard]] std::size_t unacked(std::size_t slot) const {
    return slots_[slot].unacked_current + slots_[slot].unacked_old;
  }

 private:
  struct Slot {
    std::uint64_t epoch = 0;
    bool consuming = true;
    bool removed = false;             // no longer consumed: never re-created
    std::uint16_t prefetch = 0;       // the current consumer's
    std::uint16_t planned_for = 0;    // the wanted value it was planned for
    std::size_t unacked_current = 0;  // delivered to the current consumer
    std::size_t unacked_old = 0;      // delivered to cancelled consumers
    std::optional<TimePoint> changed_at;
  };

  std::optional<Step> planSlot(std::size_t index, Slot& slot, TimePoint now);

  std::vector<Slot> slots_;
  std::uint16_t wanted_ = 0;
  bool stopped_ = false;
  std::optional<TimePoint> retry_at_;
};

}  // namespace celeriac::worker::amqp
