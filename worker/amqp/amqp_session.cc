#include "worker/amqp/amqp_session.h"

#include <algorithm>

#include "worker/amqp/amqp_table.h"
#include "worker/amqp/amqp_wire.h"
#include "worker/amqp/topology_declarer.h"

namespace celeriac::worker::amqp {

namespace {

// basic.publish properties of `message`; owns the header table they point into.
class Properties {
 public:
  explicit Properties(const OutgoingMessage& message) : headers_(message.headers) {
    props_._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                    AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props_.content_type = bytesOf(message.content_type);
    props_.content_encoding = bytesOf(message.content_encoding);
    props_.delivery_mode = message.persistent ? 2 : 1;
    props_.headers = headers_.table();
    if (!message.correlation_id.empty()) {
      props_._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
      props_.correlation_id = bytesOf(message.correlation_id);
    }
    if (!message.reply_to.empty()) {
      props_._flags |= AMQP_BASIC_REPLY_TO_FLAG;
      props_.reply_to = bytesOf(message.reply_to);
    }
    if (message.priority) {
      props_._flags |= AMQP_BASIC_PRIORITY_FLAG;
      props_.priority = *message.priority;
    }
  }
  [[nodiscard]] const amqp_basic_properties_t* get() const { return &props_; }

 private:
  TableBuilder headers_;
  amqp_basic_properties_t props_{};
};

}  // namespace

AmqpSession::AmqpSession(std::uint64_t generation, const Config& config, SocketListener on_socket)
    : generation_(generation),
      topology_(config.topology),
      transient_backlog_(config.transient_backlog),
      on_socket_(std::move(on_socket)) {}

AmqpSession::~AmqpSession() {
  // Forget the socket before rabbitmq-c closes it: nobody may shut down its number
  // once it can be reused.
  if (on_socket_) on_socket_(-1);
  if (conn_ != nullptr) amqp_destroy_connection(conn_);
}

int AmqpSession::fd() const { return conn_ == nullptr ? -1 : amqp_get_sockfd(conn_); }

int AmqpSession::readIntervalMs() const {
  const int heartbeat_s = conn_ == nullptr ? 0 : amqp_get_heartbeat(conn_);
  if (heartbeat_s <= 0) return 1000;
  return std::clamp(heartbeat_s * 250, 50, 1000);
}

bool AmqpSession::fail(std::string reason) {
  if (!failed_) {
    failed_ = true;
    error_ = std::move(reason);
  }
  return false;
}

bool AmqpSession::sent(int status, const char* what) {
  if (failed_) return false;
  if (status == AMQP_STATUS_OK) return true;
  return fail(std::string(what) + " failed: " + amqp_error_string2(status));
}

bool AmqpSession::ack(std::uint64_t tag, bool multiple) {
  return sent(amqp_basic_ack(conn_, kConsumeChannel, tag, multiple ? 1 : 0), "ack");
}

bool AmqpSession::reject(std::uint64_t tag, bool requeue) {
  return sent(amqp_basic_reject(conn_, kConsumeChannel, tag, requeue ? 1 : 0), "reject");
}

bool AmqpSession::qos(std::uint16_t prefetch, bool global) {
  amqp_basic_qos_t req{};
  req.prefetch_count = prefetch;
  req.global = global ? 1 : 0;
  return sent(amqp_send_method(conn_, kConsumeChannel, AMQP_BASIC_QOS_METHOD, &req), "basic.qos");
}

bool AmqpSession::consume(const io::Consume& request, std::vector<io::Event>& out) {
  if (request.declare) {
    const common::Result<void> declared = declareTaskQueue(request.queue);
    if (failed_) return false;
    if (!declared) {
      out.emplace_back(io::ConsumeFailed{generation_, request.slot, request.queue.name,
                                         declared.error().message});
      return true;
    }
  }
  // Per-consumer prefetch applies to consumers created after it (RabbitMQ "Consumer
  // Prefetch"): set it right before this consume.
  if (request.per_consumer_qos && !qos(request.prefetch, false)) return false;
  amqp_basic_consume_t req{};
  req.queue = bytesOf(request.queue.name);
  req.consumer_tag = bytesOf(request.consumer_tag);
  req.no_ack = 0;
  req.exclusive = 0;
  req.nowait = 1;  // our own tag: no need to wait for consume-ok
  req.arguments = amqp_empty_table;
  if (!sent(amqp_send_method(conn_, kConsumeChannel, AMQP_BASIC_CONSUME_METHOD, &req),
            "basic.consume")) {
    return false;
  }
  consumers_[request.consumer_tag] =
      ConsumerInfo{request.slot, request.epoch, request.queue.name, false};
  declared_queues_.insert(request.queue.name);
  return true;
}

common::Result<void> AmqpSession::declareTaskQueue(const QueueSpec& queue) {
  if (failed_) return common::Error{error_};
  // Blocking RPCs, bounded by the RPC timeout; deliveries read meanwhile are queued by
  // rabbitmq-c (amqp_frames_enqueued) and handled by the next read().
  auto failure = TopologyDeclarer(conn_, kDeclareChannel).taskQueue(queue);
  if (!failure) return {};
  const amqp_rpc_reply_t& reply = failure->reply;
  const std::string why = failure->what + ": " + describeReply(reply);
  if (reply.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
      reply.reply.id != AMQP_CHANNEL_CLOSE_METHOD) {
    fail(why);  // the connection itself is gone (or timed out)
    return common::Error{why};
  }
  // Only kDeclareChannel was closed: acknowledge and open it again for the next one.
  amqp_channel_close_ok_t close_ok{};
  if (!sent(amqp_send_method(conn_, kDeclareChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok),
            "channel.close-ok")) {
    return common::Error{error_};
  }
  amqp_channel_open(conn_, kDeclareChannel);
  const amqp_rpc_reply_t reopened = amqp_get_rpc_reply(conn_);
  if (reopened.reply_type != AMQP_RESPONSE_NORMAL) {
    fail("channel.open (declare): " + describeReply(reopened));
    return common::Error{error_};
  }
  return common::Error{why};  // refused, and the session carries on
}

bool AmqpSession::cancel(const std::string& consumer_tag) {
  amqp_basic_cancel_t req{};
  req.consumer_tag = bytesOf(consumer_tag);
  // Not nowait: deliveries already on their way still name the consumer, and the
  // channel is ordered, so once cancel-ok arrives none is left and the tag is
  // forgotten (re-created quorum consumers would otherwise pile up here).
  req.nowait = 0;
  return sent(amqp_send_method(conn_, kConsumeChannel, AMQP_BASIC_CANCEL_METHOD, &req),
              "basic.cancel");
}

bool AmqpSession::publish(io::Publish& request) {
  OutgoingMessage& message = request.message;
  message.persistent = true;  // confirmed publishes are durable ones
  const Properties props(message);
  if (message.exchange.empty() && !declared_queues_.contains(message.routing_key) &&
      !declareQueueNoWait(message.routing_key)) {
    return false;
  }
  if (!sent(amqp_basic_publish(conn_, kPublishChannel, bytesOf(message.exchange),
                               bytesOf(message.routing_key), 0, 0, props.get(),
                               bytesOf(message.body)),
            "publish")) {
    return false;
  }
  confirms_.sent(request.id);
  return true;
}

bool AmqpSession::publishTransient(io::PublishTransient& request) {
  if (failed_) return false;
  if (!transient_open_) {
    // Re-opening after a channel error: a transient message may be lost, and sending
    // before channel.open-ok would break the protocol.
    if (transient_backlog_) transient_backlog_->countDropped();
    request.lease.release();
    return true;
  }
  const OutgoingMessage& message = request.message;
  const Properties props(message);
  const int status =
      amqp_basic_publish(conn_, kTransientChannel, bytesOf(message.exchange),
                         bytesOf(message.routing_key), 0, 0, props.get(), bytesOf(message.body));
  request.lease.release();  // written (or failed): no longer waiting for the I/O thread
  return sent(status, "publish (transient)");
}

bool AmqpSession::reopenTransientChannel(const amqp_channel_close_t& close,
                                         std::vector<io::Event>& out) {
  // Why re-open rather than reconnect: the channel only carries fire-and-forget
  // messages (events, replies), so nothing on it needs recovering, while a reconnect
  // would requeue every task in flight and re-create every consumer because one reply
  // named an exchange nobody declared (RabbitMQ answers that publish with channel.close
  // 404). Sent asynchronously: close-ok, then channel.open; open-ok arrives in read().
  out.emplace_back(io::TransientChannelClosed{
      generation_, std::to_string(close.reply_code) + " " + bytesToString(close.reply_text)});
  amqp_channel_close_ok_t close_ok{};
  if (!sent(amqp_send_method(conn_, kTransientChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok),
            "channel.close-ok")) {
    return false;
  }
  amqp_channel_open_t open{};
  open.out_of_band = amqp_empty_bytes;
  transient_open_ = false;
  return sent(amqp_send_method(conn_, kTransientChannel, AMQP_CHANNEL_OPEN_METHOD, &open),
              "channel.open (transient)");
}

bool AmqpSession::declareQueueNoWait(const std::string& queue) {
  // As Celery's publisher does (task_create_missing_queues): otherwise RabbitMQ would
  // drop a message for a queue nobody declared yet. The same declaration as our own
  // task queues, so a Python worker declaring it too sees equivalent arguments.
  const nlohmann::json args = topology_.queues.empty() ? nlohmann::json::object()
                                                       : queueArguments(topology_.queues.front());
  TableBuilder table(args);
  amqp_exchange_declare_t exchange{};
  exchange.exchange = bytesOf(queue);
  exchange.type = amqp_cstring_bytes("direct");
  exchange.durable = 1;
  exchange.nowait = 1;
  amqp_queue_declare_t declare{};
  declare.queue = bytesOf(queue);
  declare.durable = 1;
  declare.nowait = 1;
  declare.arguments = table.table();
  amqp_queue_bind_t bind{};
  bind.queue = bytesOf(queue);
  bind.exchange = bytesOf(queue);
  bind.routing_key = bytesOf(queue);
  bind.nowait = 1;
  if (!sent(amqp_send_method(conn_, kPublishChannel, AMQP_EXCHANGE_DECLARE_METHOD, &exchange),
            "exchange.declare") ||
      !sent(amqp_send_method(conn_, kPublishChannel, AMQP_QUEUE_DECLARE_METHOD, &declare),
            "queue.declare") ||
      !sent(amqp_send_method(conn_, kPublishChannel, AMQP_QUEUE_BIND_METHOD, &bind),
            "queue.bind")) {
    return false;
  }
  declared_queues_.insert(queue);
  return true;
}

bool AmqpSession::hasBufferedInput() const {
  return conn_ != nullptr && (amqp_frames_enqueued(conn_) != 0 || amqp_data_in_buffer(conn_) != 0);
}

AmqpSession::ReadStatus AmqpSession::read(std::size_t max_frames, std::vector<io::Event>& out) {
  if (failed_) return ReadStatus::kFailed;
  for (std::size_t i = 0; i < max_frames; ++i) {
    amqp_frame_t frame;
    // Not {0, 0}: a deadline a microsecond away lets rabbitmq-c also compare it with
    // its heartbeat deadlines (send one when due, fail after two silent intervals).
    timeval almost_now{0, 1};
    const int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &almost_now);
    if (rc == AMQP_STATUS_TIMEOUT) return ReadStatus::kDrained;
    if (rc != AMQP_STATUS_OK) {
      fail(rc == AMQP_STATUS_HEARTBEAT_TIMEOUT
               ? std::string("missed broker heartbeats")
               : std::string("receive failed: ") + amqp_error_string2(rc));
      return ReadStatus::kFailed;
    }
    const bool ok = onFrame(frame, out);
    // Everything the frame said has been copied out: rabbitmq-c may reuse its pools.
    amqp_maybe_release_buffers(conn_);
    if (!ok) return ReadStatus::kFailed;
  }
  return ReadStatus::kMore;
}

bool AmqpSession::emitDelivery(DeliveryAssembler& assembler, std::vector<io::Event>& out) {
  DeliveryAssembler::Assembled a = assembler.take();
  io::Received r;
  r.generation = generation_;
  if (auto it = consumers_.find(a.consumer_tag); it != consumers_.end()) {
    r.slot = it->second.slot;
    r.epoch = it->second.epoch;
    r.auto_ack = it->second.auto_ack;
    r.delivery.queue = it->second.queue;
  }
  // An auto-ack delivery's tag belongs to kAutoAckChannel: it must never reach an ack
  // on kConsumeChannel, where it would name another message. 0 is no delivery's tag.
  r.delivery.ref = DeliveryRef{generation_, r.auto_ack ? 0 : a.delivery_tag};
  r.delivery.message = std::move(a.message);
  out.emplace_back(std::move(r));
  return true;
}

bool AmqpSession::onFrame(const amqp_frame_t& frame, std::vector<io::Event>& out) {
  DeliveryAssembler* assembler = frame.channel == kConsumeChannel   ? &assembler_
                                 : frame.channel == kAutoAckChannel ? &auto_ack_assembler_
                                                                    : nullptr;
  if (assembler != nullptr) {
    switch (assembler->onFrame(frame)) {
      case DeliveryAssembler::Result::kPending:
        return true;
      case DeliveryAssembler::Result::kError:
        return fail("bad delivery: " + assembler->error());
      case DeliveryAssembler::Result::kComplete:
        return emitDelivery(*assembler, out);
      case DeliveryAssembler::Result::kNotMine:
        break;
    }
  }
  if (frame.frame_type != AMQP_FRAME_METHOD) return true;  // stray content: skip
  return onMethod(frame, out);
}

bool AmqpSession::onMethod(const amqp_frame_t& frame, std::vector<io::Event>& out) {
  switch (frame.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD:
    case AMQP_BASIC_NACK_METHOD: {
      if (frame.channel != kPublishChannel) return true;
      const bool ok = frame.payload.method.id == AMQP_BASIC_ACK_METHOD;
      std::uint64_t tag = 0;
      bool multiple = false;
      if (ok) {
        const auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        tag = m->delivery_tag;
        multiple = m->multiple != 0;
      } else {
        const auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        tag = m->delivery_tag;
        multiple = m->multiple != 0;
      }
      for (std::uint64_t id : confirms_.settle(tag, multiple)) {
        out.emplace_back(io::Confirmed{generation_, id, ok});
      }
      return true;
    }
    case AMQP_BASIC_CANCEL_METHOD:
      // The broker cancelled a consumer (queue deleted, quorum queue leader lost).
      // Reconnecting re-declares and re-consumes: a worker must never silently stop
      // consuming.
      return fail("consumer cancelled by the broker");
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
      if (frame.channel == kTransientChannel) return reopenTransientChannel(*m, out);
      return fail("channel closed by broker: " + std::to_string(m->reply_code) + " " +
                  bytesToString(m->reply_text));
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
      return fail("connection closed by broker: " + std::to_string(m->reply_code) + " " +
                  bytesToString(m->reply_text));
    }
    case AMQP_CONNECTION_BLOCKED_METHOD: {
      const auto* m = static_cast<amqp_connection_blocked_t*>(frame.payload.method.decoded);
      out.emplace_back(io::Blocked{generation_, true, bytesToString(m->reason)});
      return true;
    }
    case AMQP_BASIC_CANCEL_OK_METHOD: {
      const auto* m = static_cast<amqp_basic_cancel_ok_t*>(frame.payload.method.decoded);
      consumers_.erase(bytesToString(m->consumer_tag));
      return true;
    }
    case AMQP_CHANNEL_OPEN_OK_METHOD:
      if (frame.channel == kTransientChannel) transient_open_ = true;
      return true;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      out.emplace_back(io::Blocked{generation_, false, {}});
      return true;
    default:
      return true;  // qos-ok, cancel-ok, ...: nothing to do
  }
}

void AmqpSession::closePolitely(std::chrono::milliseconds timeout) {
  if (failed_ || conn_ == nullptr) return;
  timeval tv = toTimeval(timeout);
  amqp_set_rpc_timeout(conn_, &tv);
  // Waits for close-ok at most `timeout`; a send blocked on a full socket is ended by
  // forceClose (shutdown) from the owner.
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  failed_ = true;
  error_ = "closed";
}

}  // namespace celeriac::worker::amqp
