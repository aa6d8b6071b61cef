#pragma once
// Plain AMQP value types shared by the worker and the AMQP shell: what a delivery is,
// how it is referred to when acking, what a publish carries, and the connection's
// options. No libuv, no rabbitmq-c: anything may include this (the task pipeline, its
// unit tests, the I/O thread).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/worker_defaults.h"
#include "worker/amqp/broker_url.h"
#include "worker/amqp/topology.h"
#include "worker/celery/raw_message.h"

namespace celeriac::worker::amqp {

// Names one delivery on one connection. After a reconnect the generation differs and
// acking an old ref is a no-op: the broker has already put the message back.
struct DeliveryRef {
  std::uint64_t generation = 0;
  std::uint64_t tag = 0;
};

struct Delivery {
  DeliveryRef ref;
  std::string queue;  // the queue it was consumed from
  celery::RawMessage message;
};

// A message to publish: with publisher confirms (parking, later chain steps) through
// AmqpConnection::publish, or without (events, remote-control replies) through
// publishTransient.
struct OutgoingMessage {
  std::string exchange;
  std::string routing_key;
  std::string content_type = "application/json";
  std::string content_encoding = "utf-8";
  std::string correlation_id;
  std::string reply_to;
  std::optional<std::uint8_t> priority;
  nlohmann::json headers = nlohmann::json::object();
  std::string body;
  bool persistent = true;  // delivery_mode 2, else 1 (transient: events, replies)
};

struct AmqpOptions {
  std::vector<BrokerUrl> urls;  // tried in turn (cluster failover)
  Topology topology;
  // How many unacked deliveries the broker may send: channel-wide (basic.qos
  // global=1) for classic queues, per consumer for quorum queues. 0 = unlimited. The
  // worker's default unless told (WorkerApp always passes concurrency x multiplier).
  std::uint16_t prefetch = common::kDefaultPrefetch;
  std::chrono::seconds heartbeat{60};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds backoff_min{200};
  std::chrono::milliseconds backoff_max{10'000};
  // close(): how long the polite connection.close may take before the socket is shut.
  std::chrono::milliseconds close_timeout{2000};
};

}  // namespace celeriac::worker::amqp
