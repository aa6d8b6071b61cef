// AmqpConnection, the consumer side: which task queues are consumed (ConsumerSet,
// addQueue/removeQueue, cancelConsumers), prefetch (channel-wide qos or the quorum
// ConsumerWindow), deliveries in, and acks and rejects out. Loop thread.
//
// A consumer is named by its slot and epoch (consumerTag); slots are given out by
// ConsumerSet and never reused on one connection, so a removed queue's late deliveries
// and their acks keep working (acks are by delivery tag on the channel, which stays).

#include <algorithm>

#include "worker/amqp/amqp_connection.h"
#include "worker/amqp/amqp_log.h"

namespace celeriac::worker::amqp {

std::string AmqpConnection::consumerTag(std::uint64_t generation, std::size_t slot,
                                        std::uint64_t epoch) {
  // Our own consumer tags (unique per channel, which is all AMQP asks), so consumers
  // can be created without waiting for consume-ok and deliveries name their consumer.
  return "celeriac." + std::to_string(generation) + "." + std::to_string(slot) + "." +
         std::to_string(epoch);
}

void AmqpConnection::startConsumers() {
  // The connect consumed connected_ (slots 0..n-1) unless consumers were cancelled
  // before it was sent. Reconcile with what happened while it was under way.
  window_.reset(consuming_ ? consumers_.slotCount() : 0, connect_prefetch_,
                std::chrono::steady_clock::now());
  if (!consuming_) {
    // cancelConsumers() came while the connect was under way.
    if (connect_consumed_) {
      for (const ConsumerSet::Entry& e : connected_) {
        outbox_.emplace_back(io::Cancel{generation_, consumerTag(e.slot, 0)});
      }
    }
    window_.stop();
    return;
  }
  std::vector<bool> live(consumers_.slotCount(), false);
  for (const ConsumerSet::Entry& e : consumers_.entries()) live[e.slot] = true;
  for (std::size_t slot = 0; slot < live.size(); ++slot) {
    if (!live[slot]) window_.removeSlot(slot);
  }
  // (consuming_ is still true, so the connect consumed connected_.)
  for (const ConsumerSet::Entry& e : connected_) {
    // Removed while connecting.
    if (!live[e.slot]) {
      outbox_.emplace_back(io::Cancel{generation_, consumerTag(e.slot, 0)});
    }
  }
  for (const ConsumerSet::Entry& e : consumers_.entries()) {
    // Added while connecting: declared and consumed now.
    if (e.slot >= connected_.size()) startConsumer(e, true);
  }
}

void AmqpConnection::startConsumer(const ConsumerSet::Entry& entry, bool declare) {
  io::Consume c;
  c.generation = generation_;
  c.slot = entry.slot;
  c.consumer_tag = consumerTag(entry.slot, 0);
  c.queue = entry.queue;
  c.declare = declare;
  // Classic queues: the channel-wide qos covers the new consumer too. Quorum: its own.
  c.per_consumer_qos = quorum_;
  c.prefetch = quorum_ && entry.slot < window_.slots() ? window_.prefetch(entry.slot) : 0;
  outbox_.emplace_back(std::move(c));
}

bool AmqpConnection::addQueue(QueueSpec queue) {
  if (queue.quorum && !quorum_) {
    amqpLog()->error(
        "cannot consume quorum queue={}: the other queues are classic and share a "
        "channel-wide prefetch, which RabbitMQ refuses for quorum consumers",
        queue.name);
    return false;
  }
  const std::optional<std::size_t> slot = consumers_.add(std::move(queue));
  if (!slot) return false;
  // Connecting: startConsumers() picks it up; backoff: the next connect consumes it.
  if (state_ == State::kOpen && consuming_) {
    if (quorum_) {
      window_.setWanted(options_.prefetch);
      window_.addSlot(*slot, std::chrono::steady_clock::now());
    }
    startConsumer(consumers_.entries().back(), true);
    wantFlush();
  }
  return true;
}

bool AmqpConnection::removeQueue(const std::string& name) {
  const std::optional<std::size_t> slot = consumers_.remove(name);
  if (!slot) return false;
  // Connecting: startConsumers() cancels it; backoff: the next connect leaves it out.
  if (state_ == State::kOpen && consuming_) {
    if (!quorum_) {
      outbox_.emplace_back(io::Cancel{generation_, consumerTag(*slot, 0)});
    } else if (*slot < window_.slots()) {
      // A paused slot has no consumer left to cancel.
      if (window_.consuming(*slot)) {
        outbox_.emplace_back(io::Cancel{generation_, consumerTag(*slot, window_.epoch(*slot))});
      }
      window_.removeSlot(*slot);
    }
    wantFlush();
  }
  return true;
}

void AmqpConnection::onConsumeFailed(const io::ConsumeFailed& e) {
  if (state_ != State::kOpen || e.generation != generation_) return;
  const auto& entries = consumers_.entries();
  const bool same = std::any_of(entries.begin(), entries.end(), [&e](const ConsumerSet::Entry& x) {
    return x.slot == e.slot && x.queue.name == e.queue;
  });
  if (!same) return;  // removed meanwhile
  amqpLog()->error("cannot consume queue={} (forgotten): {}", e.queue, e.reason);
  consumers_.remove(e.queue);
  window_.removeSlot(e.slot);
}

void AmqpConnection::onReceived(io::Received& e) {
  if (e.auto_ack) {
    // Consumed no_ack: already settled with the broker, whichever connection it came
    // on, so it is handed on even if that connection has broken since.
    if (!close_requested_ && callbacks_.on_auto_ack_delivery) {
      callbacks_.on_auto_ack_delivery(std::move(e.delivery));
    }
    return;
  }
  // A delivery of a connection that broke or closed meanwhile: the broker requeues it.
  if (state_ != State::kOpen || e.generation != generation_) return;
  const std::uint64_t tag = e.delivery.ref.tag;
  acks_.delivered(tag);
  if (quorum_) {
    window_.delivered(e.slot, e.epoch);
    tag_slots_[tag] = Slot{e.slot, e.epoch};
  }
  callbacks_.on_delivery(std::move(e.delivery));
}

void AmqpConnection::applyPrefetch() {
  if (!consuming_) return;
  if (!quorum_) {
    // Channel-wide (global=1): RabbitMQ applies a new value to the running consumers.
    if (options_.prefetch != prefetch_applied_) {
      prefetch_applied_ = options_.prefetch;
      outbox_.emplace_back(io::Qos{generation_, options_.prefetch, true});
    }
    return;
  }
  window_.setWanted(options_.prefetch);
  const auto now = std::chrono::steady_clock::now();
  for (const ConsumerWindow::Step& step : window_.plan(now)) {
    if (step.cancel_current) {
      // Which consumer is current was just changed by plan(): the previous epoch.
      outbox_.emplace_back(io::Cancel{generation_, consumerTag(step.slot, step.epoch - 1)});
    }
    const ConsumerSet::Entry* entry = consumers_.bySlot(step.slot);
    if (step.prefetch && entry != nullptr) {
      io::Consume c;
      c.generation = generation_;
      c.slot = step.slot;
      c.consumer_tag = consumerTag(step.slot, step.epoch);
      c.prefetch = *step.prefetch;
      c.epoch = step.epoch;
      c.queue = entry->queue;
      outbox_.emplace_back(std::move(c));
    }
  }
  if (auto due = window_.retryAt()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*due - now);
    uv_timer_start(
        window_timer_.get(),
        [](uv_timer_t* t) noexcept { static_cast<AmqpConnection*>(t->data)->flush(); },
        static_cast<std::uint64_t>(std::max<std::int64_t>(1, wait.count())), 0);
  }
}

void AmqpConnection::settleInWindow(std::uint64_t tag) {
  if (!quorum_) return;
  auto it = tag_slots_.find(tag);
  if (it == tag_slots_.end()) return;
  window_.settled(it->second.slot, it->second.epoch);
  tag_slots_.erase(it);
}

void AmqpConnection::ack(DeliveryRef ref) {
  if (state_ != State::kOpen || ref.generation != generation_) return;
  acks_.finished(ref.tag);
  settleInWindow(ref.tag);
  wantFlush();
}

void AmqpConnection::reject(DeliveryRef ref, bool requeue) {
  // Tag 0: an auto-ack delivery, settled already (basic.reject 0 would be a 406).
  if (state_ != State::kOpen || ref.generation != generation_ || ref.tag == 0) return;
  acks_.settled(ref.tag);
  settleInWindow(ref.tag);
  outbox_.emplace_back(io::Reject{generation_, ref.tag, requeue});
  wantFlush();
}

void AmqpConnection::setPrefetch(std::uint16_t prefetch) {
  // Applied in this turn's flush() (several changes in one turn send one basic.qos),
  // or by the next connect.
  options_.prefetch = prefetch;
  wantFlush();
}

void AmqpConnection::cancelConsumers() {
  if (!consuming_) return;
  consuming_ = false;
  if (state_ != State::kOpen) return;  // a connect under way cancels when it opens
  for (const ConsumerSet::Entry& e : consumers_.entries()) {
    const std::size_t i = e.slot;
    const bool live = !quorum_ || (i < window_.slots() && window_.consuming(i));
    const std::uint64_t epoch = quorum_ && i < window_.slots() ? window_.epoch(i) : 0;
    if (live) outbox_.emplace_back(io::Cancel{generation_, consumerTag(i, epoch)});
  }
  window_.stop();
  wantFlush();
}

}  // namespace celeriac::worker::amqp
