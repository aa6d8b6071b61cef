#pragma once
// Topology: the queues this worker consumes and how they are declared.
//
// Declared exactly as Celery declares a task queue (spec 2.1/2.2) so that either side
// may declare first without 406 PRECONDITION_FAILED: a durable direct exchange named
// after the queue, a durable non-auto-delete queue, bound with the queue name as key.
// Arguments are added only when configured (x-max-priority, x-queue-type), matching
// Celery's `task_queue_max_priority` and quorum settings. Pure data.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace celeriac::worker::amqp {

struct QueueSpec {
  std::string name;
  std::optional<int> max_priority;  // x-max-priority
  bool quorum = false;              // x-queue-type: quorum
};

// A delay tier for parked tasks (issue 5): a durable fanout exchange and a durable
// queue, both named `celeriac.delay.<name>`, whose queue-level message TTL dead-letters
// every message to the default exchange with the routing key it was published with,
// i.e. back to the task queue it came from. One queue per tier, shared by all task
// queues; tiers rather than per-message TTL so a long delay never blocks a short one
// (RabbitMQ only expires messages at the head of a queue).
struct DelayTier {
  std::string name;            // e.g. "30s"
  std::chrono::milliseconds ttl;

  [[nodiscard]] std::string exchange() const { return "celeriac.delay." + name; }
};

struct Topology {
  std::vector<QueueSpec> queues;
  std::vector<DelayTier> delay_tiers;  // sorted by ttl, shortest first
  bool quorum_delay_queues = false;
};

}  // namespace celeriac::worker::amqp
