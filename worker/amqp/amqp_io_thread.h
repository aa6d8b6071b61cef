#pragma once
// AmqpIoThread: the thread that owns the rabbitmq-c connection, so that nothing
// rabbitmq-c does can block the libuv loop.
//
// Why a thread. rabbitmq-c 0.11 (Debian 12) writes with an infinite deadline when the
// socket buffer is full (a RabbitMQ memory alarm stops reading a publishing
// connection; a slow link), reads a message body with no deadline, and closes with
// blocking RPCs; it has no public API to plug in our own non-blocking socket. Here it
// may block: only this thread waits. (A libuv-native AMQP client that used rabbitmq-c
// only as a frame codec would avoid the thread, at the cost of re-implementing the
// connection handshake and RPC state machine; not worth it for one socket.)
//
//  loop thread                              I/O thread (one per AmqpConnection)
//  ───────────                              ──────────
//  submit(commands) ──mutex+eventfd──▶      poll(eventfd, socket)
//                                           ├ commands: connect, acks, rejects, qos,
//                                           │ consume, cancel, publish (confirmed or
//                                           │ transient), close (sent in order; a send
//                                           │ may block here)
//                                           └ frames: read with a ~zero timeout, at most
//                                             kFramesPerRound before commands again
//  takeEvents(budget) ◀──mutex+notify()──   deliveries (acked and auto-ack), confirms,
//                                           opened, broken, a failed runtime consume...
//
// Generations: each connect command names the generation it opens. Commands carry
// the generation they were made for; the thread drops those for any other (an ack
// for a delivery of a broken connection must never reach a new channel, where its tag
// means another message or none: PRECONDITION_FAILED).
//
// Stopping: a kClose command closes politely (queued commands first, then
// connection.close bounded by the close timeout) and ends the thread. forceClose()
// shuts the socket down (shutdown(2)) from any thread, which makes any send or read
// blocked in rabbitmq-c fail at once, and tells a connect in progress to give up.
// The owner joins only after an kExited event or a forceClose(); see AmqpConnection.
//
// Thread safety: submit(), takeEvents(), forceClose() from the loop thread; run() on
// the I/O thread; `notify` is called on the I/O thread (it must be thread-safe, e.g.
// uv_async_send).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "worker/amqp/amqp_types.h"
#include "worker/amqp/transient_backlog.h"

namespace celeriac::worker::amqp {

namespace io {

// Loop -> I/O thread.
struct Connect {
  std::uint64_t generation = 0;
  BrokerUrl url;
  std::uint16_t prefetch = 0;
  bool global_qos = false;  // channel-wide basic.qos (classic queues)
  // The task queues consumed now (declared in this order) and, unless consumers were
  // cancelled, one consumer tag each (slot i is queues[i]).
  std::vector<QueueSpec> queues;
  std::vector<std::string> consumer_tags;
};
struct Ack {
  std::uint64_t generation = 0;
  std::uint64_t tag = 0;
  bool multiple = false;
};
struct Reject {
  std::uint64_t generation = 0;
  std::uint64_t tag = 0;
  bool requeue = false;
};
struct Qos {
  std::uint64_t generation = 0;
  std::uint16_t prefetch = 0;
  bool global = false;
};
// basic.qos(prefetch, global=0) (if per_consumer_qos) then basic.consume (nowait) of
// `queue` with the caller's consumer tag, for consumer `slot` at `epoch`. With
// `declare`, the queue is declared first on kDeclareChannel (AmqpConnection::addQueue);
// if that is refused a ConsumeFailed event says so and nothing is consumed.
struct Consume {
  std::uint64_t generation = 0;
  std::size_t slot = 0;
  std::string consumer_tag;
  std::uint16_t prefetch = 0;
  std::uint64_t epoch = 0;
  QueueSpec queue;
  bool declare = false;
  bool per_consumer_qos = true;  // false: classic queues, the channel-wide qos applies
};
struct Cancel {
  std::uint64_t generation = 0;
  std::string consumer_tag;
};
struct Publish {
  std::uint64_t generation = 0;
  std::uint64_t id = 0;  // the caller's; confirms name it
  OutgoingMessage message;
};
// A publish without confirm on kTransientChannel. `lease` holds its bytes in the
// TransientBacklog until rabbitmq-c wrote it (or it was dropped): the command is
// move-only.
struct PublishTransient {
  std::uint64_t generation = 0;
  OutgoingMessage message;
  TransientBacklog::Lease lease;
};
struct Close {};
using Command =
    std::variant<Connect, Ack, Reject, Qos, Consume, Cancel, Publish, PublishTransient, Close>;

// I/O thread -> loop.
struct Opened {
  std::uint64_t generation = 0;
};
struct ConnectFailed {
  std::uint64_t generation = 0;
  std::string error;
  bool fatal = false;  // 406/403 on a declaration: retrying cannot fix it
};
struct Received {
  std::uint64_t generation = 0;
  std::size_t slot = 0;     // which topology queue's consumer got it
  std::uint64_t epoch = 0;  // and which of its consumers (see ConsumerWindow)
  bool auto_ack = false;    // from an auto-ack queue (kAutoAckChannel): never acked
  Delivery delivery;
};
// A queue added while running could not be declared (Consume with declare).
struct ConsumeFailed {
  std::uint64_t generation = 0;
  std::size_t slot = 0;
  std::string queue;
  std::string reason;
};
// The broker closed the transient channel (a publish to a missing exchange: 404); it
// is being re-opened. For the logs.
struct TransientChannelClosed {
  std::uint64_t generation = 0;
  std::string reason;
};
struct Confirmed {
  std::uint64_t generation = 0;
  std::uint64_t id = 0;
  bool ok = false;
};
struct Broken {
  std::uint64_t generation = 0;
  std::string reason;
};
// connection.blocked / unblocked (RabbitMQ resource alarms), for the logs.
struct Blocked {
  std::uint64_t generation = 0;
  bool blocked = false;
  std::string reason;
};
struct Exited {};
using Event = std::variant<Opened, ConnectFailed, Received, Confirmed, Broken, Blocked,
                           ConsumeFailed, TransientChannelClosed, Exited>;

}  // namespace io

class AmqpSession;

class AmqpIoThread {
 public:
  struct Options {
    Topology topology;
    std::chrono::seconds heartbeat{60};
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds close_timeout{2000};
    std::shared_ptr<TransientBacklog> transient_backlog;  // counts what is dropped there
  };
  // Frames read before queued commands are looked at again.
  static constexpr std::size_t kFramesPerRound = 256;

  // Starts the thread. `notify` runs on the I/O thread whenever events were queued.
  AmqpIoThread(Options options, std::function<void()> notify);
  // Forces the thread to stop (forceClose) and joins it.
  ~AmqpIoThread();
  AmqpIoThread(const AmqpIoThread&) = delete;
  AmqpIoThread& operator=(const AmqpIoThread&) = delete;

  void submit(std::vector<io::Command> commands);
  void submit(io::Command command);
  // Moves events (oldest first) into `out`: at most `max_events`, and no more once
  // the message bodies taken reach `max_bytes` (at least one event is taken). Returns
  // whether more are left.
  bool takeEvents(std::size_t max_events, std::size_t max_bytes, std::vector<io::Event>& out);
  // Shuts the socket down and stops the thread soon; safe from any thread, any time.
  void forceClose();
  // After an io::Exited event (or forceClose): waits for the thread to end.
  void join();
  // Waits at most `timeout` for the thread to end on its own (after a kClose);
  // returns whether it did (and is joined).
  bool joinFor(std::chrono::milliseconds timeout);

 private:
  void run();
  void runSessions();
  void runCommands(std::vector<io::Command>& commands);
  bool execute(io::Command& command);  // false: the thread must end
  void readFrames();
  void waitForWork();
  void emit(io::Event event);
  void flushEvents();
  void dropSession(const std::string& reason);
  void setSocket(int fd);

  Options options_;
  std::function<void()> notify_;
  int wake_fd_ = -1;  // eventfd: commands are waiting

  std::mutex commands_mutex_;
  std::vector<io::Command> commands_;
  bool wake_pending_ = false;

  std::mutex events_mutex_;
  std::deque<io::Event> events_;
  std::vector<io::Event> outbox_;  // I/O thread only: events of this round

  std::mutex socket_mutex_;  // guards socket_fd_ against close while shutting down
  int socket_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex exit_mutex_;
  std::condition_variable exit_cv_;
  bool exited_ = false;

  std::unique_ptr<AmqpSession> session_;  // I/O thread only
  std::thread thread_;
};

}  // namespace celeriac::worker::amqp
