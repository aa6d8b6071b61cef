#pragma once
// AmqpSession: one open rabbitmq-c connection, used only by the AMQP I/O thread.
//
// Channels (amqp_wire.h): 1 consumes task queues with acks (one consumer per queue,
// with our own consumer tags so basic.consume can be sent without waiting for
// consume-ok); 2 publishes in confirm mode, so confirms and consumer acks never share
// delivery-tag sequences; 3 publishes transient messages without confirms and is
// re-opened when the broker closes it; 4 consumes auto-ack queues; 5 declares queues
// added while running. Declarations themselves live in topology_declarer.h.
//
// The transient channel after the broker closes it (a publish to a missing exchange):
//
//   open ──channel.close (404)──▶ reopening ──channel.open-ok──▶ open
//          we send close-ok and    transient publishes are dropped (counted)
//          channel.open at once    instead of sent before open-ok
//
// Every call may block the calling thread (rabbitmq-c sends with no deadline), which
// is why only the I/O thread makes them; shutdown(2) on the socket from another thread
// (AmqpIoThread::forceClose) makes a blocked call fail. A call that returns false has
// found the connection dead: error() says why and the session must be dropped.
//
// Heartbeats are rabbitmq-c's own: every read below passes it a deadline a microsecond
// away, which lets it send a heartbeat frame when one is due and report
// AMQP_STATUS_HEARTBEAT_TIMEOUT after two silent intervals (librabbitmq/amqp_socket.c,
// wait_frame_inner). The I/O thread reads at least every heartbeat/4.

#include <amqp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "worker/amqp/amqp_io_thread.h"
#include "worker/amqp/confirm_tracker.h"
#include "worker/amqp/delivery_assembler.h"

namespace celeriac::worker::amqp {

class AmqpSession {
 public:
  struct Config {
    Topology topology;
    std::chrono::seconds heartbeat{60};
    std::chrono::milliseconds connect_timeout{5000};
    std::shared_ptr<TransientBacklog> transient_backlog;  // may be null (no counting)
  };
  // Told the socket as soon as it exists (so another thread can shut it down), and
  // -1 before the connection is destroyed.
  using SocketListener = std::function<void(int fd)>;

  struct OpenResult {
    std::unique_ptr<AmqpSession> session;  // null on failure
    std::string error;
    bool fatal = false;  // a declaration refused with 406/403
  };

  // Connects, logs in, opens both channels, declares the topology, sets qos and
  // starts consuming (amqp_connect.cc). Blocking; each step is bounded by
  // connect_timeout, and `stopping` is checked between steps.
  static OpenResult open(const Config& config, const io::Connect& request, SocketListener on_socket,
                         const std::atomic<bool>& stopping);

  ~AmqpSession();
  AmqpSession(const AmqpSession&) = delete;
  AmqpSession& operator=(const AmqpSession&) = delete;

  [[nodiscard]] std::uint64_t generation() const { return generation_; }
  [[nodiscard]] int fd() const;
  [[nodiscard]] const std::string& error() const { return error_; }
  // Milliseconds between reads the heartbeat needs (negotiated heartbeat / 4).
  [[nodiscard]] int readIntervalMs() const;

  bool ack(std::uint64_t tag, bool multiple);
  bool reject(std::uint64_t tag, bool requeue);
  bool qos(std::uint16_t prefetch, bool global);
  // With request.declare, declares the queue first (on kDeclareChannel); a refusal
  // appends a ConsumeFailed to `out` and consumes nothing (the session lives on).
  bool consume(const io::Consume& request, std::vector<io::Event>& out);
  bool cancel(const std::string& consumer_tag);
  // Publishes persistently on the confirm channel, declaring a not yet declared queue
  // first when the message goes to the default exchange.
  bool publish(io::Publish& request);
  // Publishes on the transient channel without a confirm; gives the lease back once
  // rabbitmq-c wrote it. While that channel is being re-opened the message is dropped
  // (and counted in the backlog's dropped()).
  bool publishTransient(io::PublishTransient& request);

  enum class ReadStatus { kDrained, kMore, kFailed };
  // Reads up to `max_frames` frames without waiting, appending what they mean.
  ReadStatus read(std::size_t max_frames, std::vector<io::Event>& out);
  // rabbitmq-c holds input already read from the socket (poll would not see it).
  [[nodiscard]] bool hasBufferedInput() const;

  // connection.close, waiting at most `timeout` for close-ok. The session is done.
  void closePolitely(std::chrono::milliseconds timeout);

 private:
  struct ConsumerInfo {
    std::size_t slot = 0;
    std::uint64_t epoch = 0;
    std::string queue;
    bool auto_ack = false;
  };

  AmqpSession(std::uint64_t generation, const Config& config, SocketListener on_socket);
  bool sent(int status, const char* what);
  bool fail(std::string reason);
  bool declareQueueNoWait(const std::string& queue);
  // Declares a queue added while running on kDeclareChannel. An Error when it was not
  // declared: refused (the channel closed; re-opened here, the session carries on) or
  // the session failed (failed_ set, the same reason in error()).
  common::Result<void> declareTaskQueue(const QueueSpec& queue);
  bool reopenTransientChannel(const amqp_channel_close_t& close, std::vector<io::Event>& out);
  bool emitDelivery(DeliveryAssembler& assembler, std::vector<io::Event>& out);
  bool onFrame(const amqp_frame_t& frame, std::vector<io::Event>& out);
  bool onMethod(const amqp_frame_t& frame, std::vector<io::Event>& out);

  std::uint64_t generation_;
  Topology topology_;
  std::shared_ptr<TransientBacklog> transient_backlog_;
  SocketListener on_socket_;
  amqp_connection_state_t conn_ = nullptr;
  // By consumer tag; a cancelled one until its cancel-ok (deliveries may still come).
  std::map<std::string, ConsumerInfo> consumers_;
  std::set<std::string> declared_queues_;  // on this connection, for publishing
  DeliveryAssembler assembler_;            // kConsumeChannel
  DeliveryAssembler auto_ack_assembler_;   // kAutoAckChannel
  // kTransientChannel is open (false from the broker's channel.close until open-ok).
  bool transient_open_ = true;
  ConfirmTracker confirms_;
  std::string error_;
  bool failed_ = false;

  friend struct SessionOpener;
};

}  // namespace celeriac::worker::amqp
