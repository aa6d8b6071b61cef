#pragma once
// ConsumerSet: the task queues consumed now, each with the slot number that names its
// consumer on the current connection.
//
// Why: queues come and go at run time (Celery's add_consumer / cancel_consumer control
// commands) and must all be consumed again after a reconnect. A consumer is named by
// its slot (consumer tag `celeriac.<generation>.<slot>.<epoch>`), and a slot is never
// given to another queue on the same connection: a delivery or an ack of a removed
// queue's consumer must never be mistaken for a new one's, even one of the same name.
// renumber() starts a new connection with slots 0..n-1 in order.
//
//   add(q) ─▶ slot n (next unused)      remove(name) ─▶ its slot, forgotten
//   renumber() at connect: slots 0..n-1, next unused = n
//
// Pure: no I/O. Loop thread (AmqpConnection).

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "worker/amqp/topology.h"

namespace celeriac::worker::amqp {

class ConsumerSet {
 public:
  struct Entry {
    QueueSpec queue;
    std::size_t slot = 0;
  };

  explicit ConsumerSet(std::vector<QueueSpec> queues = {});

  // Adds `queue` under the next unused slot; nullopt if a queue of that name is there.
  std::optional<std::size_t> add(QueueSpec queue);
  // Forgets `name`; returns the slot it had, nullopt if it was not there.
  std::optional<std::size_t> remove(const std::string& name);
  // A new connection: slots 0..n-1 in order, the next unused is n.
  void renumber();

  [[nodiscard]] bool contains(const std::string& name) const;
  // The entry consumed under `slot`, null if none (removed, or never given out).
  [[nodiscard]] const Entry* bySlot(std::size_t slot) const;
  [[nodiscard]] const std::vector<Entry>& entries() const { return entries_; }
  [[nodiscard]] std::vector<QueueSpec> queues() const;
  // One past the highest slot given out on this connection (removed ones included).
  [[nodiscard]] std::size_t slotCount() const { return next_slot_; }

 private:
  std::vector<Entry> entries_;
  std::size_t next_slot_ = 0;
};

}  // namespace celeriac::worker::amqp
