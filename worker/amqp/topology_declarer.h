#pragma once
// Declaring the topology (topology.h) on a rabbitmq-c connection: exchanges, task
// queues, delay tiers and auto-ack queues, each with its bindings, as blocking RPCs.
//
// For the AMQP I/O thread only: at connect (amqp_connect.cc, where a refusal is fatal)
// and for a queue added while running (AmqpSession::declareTaskQueue, on
// kDeclareChannel, where a refusal fails only that queue). Every RPC is bounded by the
// connection's RPC timeout. Declarations are exactly Celery's (topology.h), so either
// side may declare first without 406 PRECONDITION_FAILED. Internal to worker/amqp.

#include <amqp.h>

#include <optional>
#include <string>

#include "worker/amqp/topology.h"

namespace celeriac::worker::amqp {

// The first declaration that failed: what it was ("declare queue x") and the reply.
struct DeclareFailure {
  std::string what;
  amqp_rpc_reply_t reply{};
};

class TopologyDeclarer {
 public:
  TopologyDeclarer(amqp_connection_state_t conn, amqp_channel_t channel)
      : conn_(conn), channel_(channel) {}

  std::optional<DeclareFailure> exchange(const ExchangeSpec& exchange);
  // A durable direct exchange named after the queue, the queue, the binding.
  std::optional<DeclareFailure> taskQueue(const QueueSpec& queue);
  // A durable fanout exchange and queue `celeriac.delay.<name>` whose TTL dead-letters
  // to the default exchange.
  std::optional<DeclareFailure> delayTier(const DelayTier& tier, bool quorum);
  // The queue (its flags and x-arguments) and its binding; the exchange is one of
  // Topology::exchanges, declared before.
  std::optional<DeclareFailure> autoAckQueue(const AutoAckQueueSpec& queue);

 private:
  std::optional<DeclareFailure> check(std::string what);

  amqp_connection_state_t conn_;
  amqp_channel_t channel_;
};

}  // namespace celeriac::worker::amqp
