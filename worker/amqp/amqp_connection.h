#pragma once
// AmqpConnection: one RabbitMQ connection, as the libuv loop sees it.
//
// Design. Nothing here may block the loop, and rabbitmq-c blocks: it sends
// with no deadline when the socket buffer is full (a memory alarm, a slow link),
// reads message bodies with no deadline and closes with blocking RPCs. So the
// rabbitmq-c connection lives on a thread of its own (amqp_io_thread.h), and this
// class is its loop-side half:
//  * Commands (acks, rejects, qos, consume/cancel, publishes, close) are collected
//    during a loop turn and handed to the I/O thread once per turn, from a uv_check
//    handle: acks are coalesced there (AckTracker), in the same turn as the result
//    that finished them was stored.
//  * Events from the I/O thread (deliveries, publisher confirms, opened, broken) wake
//    the loop through a uv_async_t and are handled at most kEventsPerTurn per turn; the
//    rest wait for the next turn, so timers, Redis and HTTP run in between.
//  * Prefetch: classic queues get a channel-wide basic.qos (global=1), which RabbitMQ
//    applies at once when it changes, as Celery 5.2 does; quorum queues refuse global
//    QoS, so for them a change re-creates the consumers (consumer_window.h).
//  * Channels (amqp_wire.h): task consumers, confirmed publishes, transient publishes
//    (events, replies; never confirmed, dropped under back-pressure), auto-ack
//    consumers (remote control) and run-time declarations, all re-created on every
//    connection. The task queues consumed are a ConsumerSet (addQueue/removeQueue);
//    the consumer side lives in amqp_connection_consumers.cc.
//
// State machine (reconnects forever with jittered backoff until close()):
//
//     start()      Opened event
//   Idle ──▶ Connecting ──────────▶ Open ──(Broken event: socket error, missed
//               ▲   │ ConnectFailed   │     heartbeats, channel or connection closed
//               │   ▼                 ▼     by the broker, consumer cancelled)
//               └─ Backoff ◀──────────┘   (next broker URL, generation changes)
//   close(): any state ─▶ Closed; the I/O thread closes politely (queued acks first,
//   connection.close within close_timeout) and ends; after close_timeout its socket
//   is shut down, which ends any call blocked in rabbitmq-c.
//
// Each successful connection has the next generation number (1, 2, ...). A DeliveryRef from
// an older generation is dead: acking it is a no-op (the broker redelivers it).
// on_fatal: a declaration was refused with 406/403 (the connection then stays closed).
//
// Loop thread only. Destroying it after close() waits for the polite close at most
// close_timeout (then forces it); without close() it forces at once.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dispatcher.h"
#include "worker/amqp/ack_tracker.h"
#include "worker/amqp/amqp_io_thread.h"
#include "worker/amqp/amqp_types.h"
#include "worker/amqp/consumer_set.h"
#include "worker/amqp/consumer_window.h"
#include "worker/amqp/reconnect_backoff.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::amqp {

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
    // A delivery from one of Topology::auto_ack_queues (the remote-control queue). It
    // was consumed no_ack: it needs no ack (its ref.tag is 0; ack() and reject() ignore
    // it), it never counts against prefetch, and cancelConsumers() does not stop it.
    // Fires for every such delivery until close(), on the loop thread. (A default
    // member initializer, so initialisations naming the first four members compile
    // under -Wmissing-field-initializers.)
    std::function<void(Delivery)> on_auto_ack_delivery = nullptr;
  };

  // Events (deliveries, confirms, ...) handled per loop turn at most, and message
  // bytes after which a turn takes no more: decoding a few large bodies (a data: URL
  // image of megabytes) is already milliseconds of loop time.
  static constexpr std::size_t kEventsPerTurn = 128;
  static constexpr std::size_t kBytesPerTurn = 256u << 10;
  // Transient messages (publishTransient) handed to the I/O thread and not yet written
  // by rabbitmq-c, at most: beyond it they are dropped (transient_backlog.h).
  static constexpr std::size_t kTransientBacklogBytes = 4u << 20;

  AmqpConnection(uv_loop_t* loop, common::Dispatcher& dispatcher, AmqpOptions options,
                 Callbacks callbacks);
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  // Throws std::runtime_error if libuv cannot make the handle the I/O thread wakes the
  // loop with (out of file descriptors).
  void start();
  // Closes the connection without blocking the loop; unacked deliveries return to the
  // queue. Acks coalesced so far are sent first. Pending publishes fail.
  void close();

  // The delivery may be acked; it is, on this loop turn, coalesced with others.
  void ack(DeliveryRef ref);
  // basic.reject on this loop turn. requeue=false dead-letters the message if the
  // queue has a DLX.
  void reject(DeliveryRef ref, bool requeue);
  // Changes how many unacked deliveries the broker may send (0 = unlimited); takes
  // effect on the broker within the loop turn (classic queues) or within
  // ConsumerWindow::kMinInterval (quorum queues), and on every reconnect.
  void setPrefetch(std::uint16_t prefetch);
  // Stops consuming the task queues (basic.cancel for each; warm shutdown); deliveries
  // already sent still arrive. Auto-ack queues are still consumed.
  void cancelConsumers();

  // Declares `queue` (as Topology queues are declared) and consumes it from now on and
  // after every reconnect (Celery's add_consumer). False if it is already consumed, or
  // if it is a quorum queue while the topology has only classic ones (their channel-wide
  // QoS would make RabbitMQ refuse the consumer). Should the broker refuse the
  // declaration (406: it exists with other arguments), the queue is logged and
  // forgotten; the connection lives on. After cancelConsumers() it is only remembered.
  bool addQueue(QueueSpec queue);
  // Stops consuming `name` (basic.cancel) and forgets it for reconnects (Celery's
  // cancel_consumer); deliveries already sent still arrive and may be acked. False if
  // it is not consumed.
  bool removeQueue(const std::string& name);
  // The task queues consumed now (Topology::queues, then those added), in order.
  [[nodiscard]] std::vector<QueueSpec> queues() const { return consumers_.queues(); }

  // Sends `message` without a confirm on the transient channel (events and
  // remote-control replies; message.persistent=false gives delivery_mode 1). Returns
  // false, and counts the message in droppedTransient(), when the connection is not open
  // or more than kTransientBacklogBytes of transient messages wait for the I/O thread to
  // write them: under broker back-pressure (a memory alarm) they are dropped, never
  // queued without bound. Never blocks the loop. True means handed over, not delivered:
  // a publish to an exchange that does not exist makes the broker close the transient
  // channel (404), which is re-opened without touching the task channel; messages sent
  // meanwhile are lost (counted too when the I/O thread drops them).
  bool publishTransient(OutgoingMessage message);
  [[nodiscard]] std::uint64_t droppedTransient() const { return transient_->dropped(); }

  // Publishes persistently on the confirm channel. A message for the default exchange
  // whose queue this connection has not declared yet declares it first, as Celery's
  // publisher does (task_create_missing_queues): otherwise RabbitMQ would
  // drop a message for a queue nobody declared yet. The declaration uses nowait.
  // `done(true)` fires once the broker confirmed it (it is then durable);
  // `done(false)` if the broker nacked it or the connection broke or closed first (it
  // may or may not have been stored: callers treat it as not stored). Fires exactly
  // once, never inside this call.
  void publish(OutgoingMessage message, std::function<void(bool confirmed)> done);

  [[nodiscard]] bool isOpen() const { return state_ == State::kOpen; }
  [[nodiscard]] std::uint64_t generation() const { return generation_; }
  [[nodiscard]] std::uint16_t prefetch() const { return options_.prefetch; }
  // close() was called and the I/O thread has ended (its socket is closed).
  [[nodiscard]] bool closed() const { return close_requested_ && io_ == nullptr; }

 private:
  enum class State { kIdle, kConnecting, kOpen, kBackoff, kClosed };
  struct Slot {
    std::size_t slot = 0;
    std::uint64_t epoch = 0;
  };

  void connect();
  void onEvents();
  void handle(io::Event& event);
  void onOpened(const io::Opened& e);
  void onConnectFailed(const io::ConnectFailed& e);
  void onReceived(io::Received& e);
  void onConfirmed(const io::Confirmed& e);
  void onConsumeFailed(const io::ConsumeFailed& e);
  void startConsumers();
  void startConsumer(const ConsumerSet::Entry& entry, bool declare);
  void onExited();
  void broken(const std::string& reason);
  void scheduleReconnect();
  void flush();
  void wantFlush();
  void applyPrefetch();
  void settleInWindow(std::uint64_t tag);
  void failPendingPublishes();
  [[nodiscard]] std::string consumerTag(std::size_t slot, std::uint64_t epoch) const {
    return consumerTag(generation_, slot, epoch);
  }
  [[nodiscard]] static std::string consumerTag(std::uint64_t generation, std::size_t slot,
                                               std::uint64_t epoch);

  uv_loop_t* loop_;
  common::Dispatcher& dispatcher_;
  AmqpOptions options_;
  Callbacks callbacks_;
  State state_ = State::kIdle;
  bool close_requested_ = false;
  bool consuming_ = true;
  bool connect_consumed_ = true;  // the connect under way consumes connected_
  bool quorum_ = false;           // any consumed queue is a quorum queue: per-consumer prefetch
  std::uint64_t generation_ = 0;  // of the open (or last open) connection
  std::uint64_t last_generation_ = 0;            // the one the connect under way will have
  std::uint16_t connect_prefetch_ = 0;           // the prefetch the pending connect asked for
  std::uint16_t prefetch_applied_ = 0;           // classic: the last channel-wide qos sent
  ConsumerSet consumers_;                        // task queues consumed now, by slot
  std::vector<ConsumerSet::Entry> connected_;    // those the connect under way consumes
  std::shared_ptr<TransientBacklog> transient_;  // shared with the I/O thread
  AckTracker acks_;
  ConsumerWindow window_;                              // quorum queues only
  std::unordered_map<std::uint64_t, Slot> tag_slots_;  // quorum: delivery tag -> consumer
  std::uint64_t next_publish_id_ = 0;
  std::map<std::uint64_t, std::function<void(bool)>> pending_confirms_;  // by publish id
  std::vector<io::Command> outbox_;  // this turn's commands, handed over in flush()
  std::size_t url_index_ = 0;
  ReconnectBackoff backoff_;
  std::uint64_t close_started_ms_ = 0;
  std::unique_ptr<AmqpIoThread> io_;
  // After io_: the destructor joins the I/O thread (which signals async_) before they close.
  uv::HandlePtr<uv_async_t> async_;  // from start() until the I/O thread has exited
  uv::HandlePtr<uv_check_t> check_;
  uv::HandlePtr<uv_idle_t> flush_idle_;  // active while commands wait for flush()
  uv::HandlePtr<uv_timer_t> backoff_timer_;
  uv::HandlePtr<uv_timer_t> window_timer_;
  uv::HandlePtr<uv_timer_t> close_timer_;
};

}  // namespace celeriac::worker::amqp
