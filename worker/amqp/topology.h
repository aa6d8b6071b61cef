#pragma once
// Topology: the exchanges and queues this worker declares on every connection.
//
// Task queues are declared exactly as Celery declares them so that either
// side may declare first without 406 PRECONDITION_FAILED: a durable direct exchange
// named after the queue, a durable non-auto-delete queue, bound with the queue name as
// key. Arguments are added only when configured (x-max-priority, x-queue-type), matching
// Celery's `task_queue_max_priority` and quorum settings. Exchanges and auto-ack queues
// (remote control) are declared with exactly the flags and arguments given, which the
// caller copies from Celery. Pure data.

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

// A delay tier for parked tasks (every model down): a durable fanout exchange and a durable
// queue, both named `celeriac.delay.<name>`, whose queue-level message TTL dead-letters
// every message to the default exchange with the routing key it was published with,
// i.e. back to the task queue it came from. One queue per tier, shared by all task
// queues; tiers rather than per-message TTL so a long delay never blocks a short one
// (RabbitMQ only expires messages at the head of a queue).
struct DelayTier {
  std::string name;  // e.g. "30s"
  std::chrono::milliseconds ttl;

  [[nodiscard]] std::string exchange() const { return "celeriac.delay." + name; }
};

// An exchange declared on every connection, before any queue. Celery's: `celeryev`
// topic durable (events); `celery.pidbox` fanout and `reply.celery.pidbox` direct,
// both durable=false (remote control). Flags must equal what Celery
// declares, or whichever side declares second gets 406.
struct ExchangeSpec {
  std::string name;
  std::string type = "direct";
  bool durable = true;
  bool auto_delete = false;
};

// A queue consumed with no_ack (basic.consume no_ack=1): its deliveries are never acked
// and never count against prefetch. For the remote-control queue
// `<nodename>.celery.pidbox`, which kombu 5.2 (kombu/pidbox.py Mailbox.get_queue)
// declares durable=false, auto_delete=true, exclusive=false, with x-message-ttl 300000
// and x-expires 10000 (control_queue_ttl/expires), bound to `celery.pidbox` with key "".
// Declared exclusive=false like kombu 5.2, so a Python `celery inspect` (which only
// publishes to the exchange) and this worker coexist.
struct AutoAckQueueSpec {
  std::string name;
  std::string exchange;  // bound to it with routing_key
  std::string routing_key;
  bool durable = false;
  bool auto_delete = true;
  std::optional<std::chrono::milliseconds> message_ttl;  // x-message-ttl
  std::optional<std::chrono::milliseconds> expires;      // x-expires
};

struct Topology {
  std::vector<QueueSpec> queues;
  std::vector<DelayTier> delay_tiers;  // sorted by ttl, shortest first
  bool quorum_delay_queues = false;
  std::vector<ExchangeSpec> exchanges;  // declared on every connection, before queues
  // Declared, bound and consumed no_ack on every connection (AmqpConnection's
  // on_auto_ack_delivery).
  std::vector<AutoAckQueueSpec> auto_ack_queues;
};

}  // namespace celeriac::worker::amqp
