#pragma once
// AmqpConnection: one RabbitMQ connection (rabbitmq-c) driven by the libuv loop.
//
// Design. rabbitmq-c is a blocking library, so:
//  * Connecting (TCP, login, channel open, queue declarations, qos, consume) runs on
//    libuv's thread pool (uv_queue_work). The loop keeps serving Redis writes and
//    running tasks meanwhile. Only the work thread touches the new connection until
//    its after-work callback hands it to the loop thread; from then on only the loop
//    thread does.
//  * Reading: a uv_poll on amqp_get_sockfd(). On readable, drain() calls
//    amqp_consume_message with a zero timeout until it reports AMQP_STATUS_TIMEOUT,
//    because rabbitmq-c buffers frames: one readable event may carry many.
//    Non-delivery frames (qos-ok, cancel-ok, server cancel, channel/connection close)
//    surface as AMQP_STATUS_UNEXPECTED_STATE and are read with
//    amqp_simple_wait_frame_noblock.
//  * Writing: acks, rejects and qos changes are sent as methods without waiting for a
//    reply (amqp_basic_ack/reject, amqp_send_method), never as blocking RPCs, so the
//    loop never waits on the broker. Acks are coalesced (AckTracker) and flushed once
//    per loop turn from a uv_check handle, i.e. in the same turn as the result that
//    finished them was stored.
//  * Heartbeats: rabbitmq-c sends them only inside its own calls, so a timer sends a
//    heartbeat frame every heartbeat/2 and declares the connection dead when nothing
//    was received for two heartbeat intervals.
//
// State machine (reconnects forever with backoff until close()):
//
//     start()        work done OK
//   Idle ──▶ Connecting ────────────▶ Open ──(socket error, heartbeat
//               ▲   │ failed             │    timeout, channel closed)
//               │   ▼                    ▼
//               └─ Backoff ◀─────────── Broken (poll stopped, conn destroyed,
//                                               generation++)
//   close(): any state ─▶ Closed (a connect in flight is finished and dropped)
//
// Each successful connection has a new generation number. A DeliveryRef from an
// older generation is dead: acking it is a no-op (the broker redelivers it).
// Loop thread only, except the connect job as described.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "balancer/dispatcher.h"
#include "worker/amqp/ack_tracker.h"
#include "worker/amqp/broker_url.h"
#include "worker/amqp/topology.h"
#include "worker/celery/raw_message.h"

namespace celeriac::worker::amqp {

struct DeliveryRef {
  std::uint64_t generation = 0;
  std::uint64_t tag = 0;
};

struct Delivery {
  DeliveryRef ref;
  std::string queue;  // the queue it was consumed from
  celery::RawMessage message;
};

// A message to publish with publisher confirms (parking, later chain steps).
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
};

struct AmqpOptions {
  std::vector<BrokerUrl> urls;       // tried in turn (cluster failover)
  Topology topology;
  std::uint16_t prefetch = 16;        // basic.qos prefetch_count, per consumer
  std::chrono::seconds heartbeat{60};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds backoff_min{200};
  std::chrono::milliseconds backoff_max{10'000};
};

class AmqpConnection {
 public:
  struct Callbacks {
    std::function<void(Delivery)> on_delivery;
    // The connection opened (generation given) or broke (reason given; safe to log).
    std::function<void(std::uint64_t generation)> on_open;
    std::function<void(const std::string& reason)> on_broken;
    // A declaration failed in a way retrying cannot fix (406 PRECONDITION_FAILED,
    // 403 ACCESS_REFUSED): the caller should exit with this message.
    std::function<void(const std::string& reason)> on_fatal;
  };

  AmqpConnection(uv_loop_t* loop, balancer::Dispatcher& dispatcher, AmqpOptions options,
                 Callbacks callbacks);
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  void start();
  // Cancels consumers and closes the connection; unacked deliveries return to the
  // queue. Pending coalesced acks are flushed first.
  void close();

  // The delivery may be acked; it is, on this loop turn, coalesced with others.
  void ack(DeliveryRef ref);
  // basic.reject now. requeue=false dead-letters the message if the queue has a DLX.
  void reject(DeliveryRef ref, bool requeue);
  // Changes basic.qos prefetch for the consumer channel (takes effect on the broker
  // asynchronously; also applied on every reconnect).
  void setPrefetch(std::uint16_t prefetch);
  // Stops consuming (basic.cancel for every queue); deliveries already sent still arrive.
  void cancelConsumers();

  // Publishes persistently on the confirm channel. A message for the default exchange
  // whose queue this connection has not declared yet declares it first, as Celery's
  // publisher does (task_create_missing_queues, spec 2.2): otherwise RabbitMQ would
  // drop a message for a queue nobody declared yet. The declaration uses nowait, so
  // the loop never waits for the broker. `done(true)` fires once the broker
  // confirmed it (it is then durable); `done(false)` if the broker nacked it or the
  // connection broke first (it may or may not have been stored: callers treat it as
  // not stored). Fires exactly once, never inside this call.
  void publish(OutgoingMessage message, std::function<void(bool confirmed)> done);

  [[nodiscard]] bool isOpen() const { return state_ == State::kOpen; }
  [[nodiscard]] std::uint64_t generation() const { return generation_; }
  [[nodiscard]] std::uint16_t prefetch() const { return options_.prefetch; }

 private:
  enum class State { kIdle, kConnecting, kOpen, kBackoff, kClosed };
  struct ConnectJob;
  struct Handle;

  void connect();
  void onConnected(std::unique_ptr<ConnectJob> job);
  void drain();
  bool handleOtherFrame();
  void broken(const std::string& reason);
  void scheduleReconnect();
  void flushAcks();
  void sendHeartbeat();
  void confirmed(std::uint64_t tag, bool multiple, bool ok);
  void declareQueueNoWait(const std::string& queue);
  void failPendingPublishes();

  uv_loop_t* loop_;
  balancer::Dispatcher& dispatcher_;
  AmqpOptions options_;
  Callbacks callbacks_;
  State state_ = State::kIdle;
  std::unique_ptr<Handle> conn_;
  std::uint64_t generation_ = 0;
  AckTracker acks_;
  std::uint64_t publish_seq_ = 0;  // confirm-mode delivery tags on the publish channel
  std::map<std::uint64_t, std::function<void(bool)>> pending_confirms_;
  std::set<std::string> declared_queues_;  // on this connection, for publishing
  std::size_t url_index_ = 0;
  std::chrono::milliseconds backoff_;
  bool consuming_ = false;
  ConnectJob* pending_job_ = nullptr;  // the connect running on the thread pool
  std::uint64_t last_receive_ms_ = 0;
  uv_poll_t* poll_ = nullptr;
  uv_check_t* check_ = nullptr;
  uv_timer_t* heartbeat_timer_ = nullptr;
  uv_timer_t* backoff_timer_ = nullptr;
};

}  // namespace celeriac::worker::amqp
