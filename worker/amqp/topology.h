#pragma once
// Topology: the queues this worker consumes and how they are declared.
//
// Declared exactly as Celery declares a task queue (spec 2.1/2.2) so that either side
// may declare first without 406 PRECONDITION_FAILED: a durable direct exchange named
// after the queue, a durable non-auto-delete queue, bound with the queue name as key.
// Arguments are added only when configured (x-max-priority, x-queue-type), matching
// Celery's `task_queue_max_priority` and quorum settings. Pure data.

#include <optional>
#include <string>
#include <vector>

namespace celeriac::worker::amqp {

struct QueueSpec {
  std::string name;
  std::optional<int> max_priority;  // x-max-priority
  bool quorum = false;              // x-queue-type: quorum
};

struct Topology {
  std::vector<QueueSpec> queues;
};

}  // namespace celeriac::worker::amqp
