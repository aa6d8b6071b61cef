#include "worker/amqp/amqp_connection.h"

#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <random>

#include "worker/amqp/amqp_table.h"
#include "worker/uv/uv_handle.h"

namespace celeriac::worker::amqp {

namespace {

constexpr amqp_channel_t kConsumeChannel = 1;
// Publishing gets a channel of its own in confirm mode: confirms and consumer acks
// never share delivery-tag sequences.
constexpr amqp_channel_t kPublishChannel = 2;
constexpr int kFrameMax = 131072;

amqp_bytes_t bytesOf(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());
  return b;
}

std::string bytesToString(const amqp_bytes_t& b) {
  if (b.len == 0 || b.bytes == nullptr) return {};
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

// Describes an RPC reply for logs. Server texts never contain credentials.
std::string describe(const amqp_rpc_reply_t& reply, int* server_code = nullptr) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        if (server_code != nullptr) *server_code = m->reply_code;
        return "connection closed by broker: " + std::to_string(m->reply_code) + " " +
               bytesToString(m->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        if (server_code != nullptr) *server_code = m->reply_code;
        return "channel closed by broker: " + std::to_string(m->reply_code) + " " +
               bytesToString(m->reply_text);
      }
      return "server exception, method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

// Owns a rabbitmq-c connection; destroying it closes the socket without a handshake.
struct AmqpConnection::Handle {
  amqp_connection_state_t conn = nullptr;
  std::vector<std::string> consumer_tags;  // consumer_tags[i] consumes consumed_queues[i]
  std::vector<std::string> consumed_queues;
  ~Handle() {
    if (conn != nullptr) amqp_destroy_connection(conn);
  }
};

// What the thread-pool job needs and produces. Only the work thread touches it
// between uv_queue_work and the after-work callback.
struct AmqpConnection::ConnectJob {
  uv_work_t work{};
  AmqpConnection* owner = nullptr;  // nulled if the owner dies first
  BrokerUrl url;
  Topology topology;
  std::uint16_t prefetch = 0;
  int heartbeat_s = 0;
  std::chrono::milliseconds timeout{};
  std::unique_ptr<Handle> handle;  // set on success
  std::string error;
  bool fatal = false;

  void run();
  bool check(const amqp_rpc_reply_t& reply, const std::string& what);
};

bool AmqpConnection::ConnectJob::check(const amqp_rpc_reply_t& reply, const std::string& what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
  int code = 0;
  error = what + ": " + describe(reply, &code);
  // 406 PRECONDITION_FAILED (queue declared with other arguments) and 403
  // ACCESS_REFUSED on a declaration cannot be fixed by retrying (spec 2.3).
  fatal = (code == 406 || code == 403) && what.rfind("declare", 0) == 0;
  return false;
}

void AmqpConnection::ConnectJob::run() {
  auto h = std::make_unique<Handle>();
  h->conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(h->conn);
  if (socket == nullptr) {
    error = "cannot create socket";
    return;
  }
  timeval tv = toTimeval(timeout);
  amqp_set_handshake_timeout(h->conn, &tv);
  amqp_set_rpc_timeout(h->conn, &tv);
  if (int rc = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &tv);
      rc != AMQP_STATUS_OK) {
    error = "cannot connect to " + url.redacted() + ": " + amqp_error_string2(rc);
    return;
  }
  // Acks are small frames sent as soon as results are stored; Nagle would hold them
  // back waiting for the broker's delayed ACK, capping throughput.
  const int one = 1;
  setsockopt(amqp_get_sockfd(h->conn), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!check(amqp_login(h->conn, url.vhost.c_str(), 0, kFrameMax, heartbeat_s,
                        AMQP_SASL_METHOD_PLAIN, url.user.c_str(), url.password.c_str()),
             "login to " + url.redacted()))
    return;
  amqp_channel_open(h->conn, kConsumeChannel);
  if (!check(amqp_get_rpc_reply(h->conn), "channel.open")) return;

  for (const QueueSpec& q : topology.queues) {
    nlohmann::json args = nlohmann::json::object();
    if (q.max_priority) args["x-max-priority"] = *q.max_priority;
    if (q.quorum) args["x-queue-type"] = "quorum";
    TableBuilder table(args);
    amqp_exchange_declare(h->conn, kConsumeChannel, bytesOf(q.name), amqp_cstring_bytes("direct"),
                          0, 1, 0, 0, amqp_empty_table);
    if (!check(amqp_get_rpc_reply(h->conn), "declare exchange " + q.name)) return;
    amqp_queue_declare(h->conn, kConsumeChannel, bytesOf(q.name), 0, 1, 0, 0, table.table());
    if (!check(amqp_get_rpc_reply(h->conn), "declare queue " + q.name)) return;
    amqp_queue_bind(h->conn, kConsumeChannel, bytesOf(q.name), bytesOf(q.name), bytesOf(q.name),
                    amqp_empty_table);
    if (!check(amqp_get_rpc_reply(h->conn), "declare binding " + q.name)) return;
  }
  // Per-consumer prefetch (global=false): quorum queues refuse global QoS.
  amqp_basic_qos(h->conn, kConsumeChannel, 0, prefetch, 0);
  if (!check(amqp_get_rpc_reply(h->conn), "basic.qos")) return;
  for (const QueueSpec& q : topology.queues) {
    auto* ok = amqp_basic_consume(h->conn, kConsumeChannel, bytesOf(q.name), amqp_empty_bytes, 0,
                                  0, 0, amqp_empty_table);
    if (!check(amqp_get_rpc_reply(h->conn), "basic.consume " + q.name)) return;
    h->consumer_tags.push_back(bytesToString(ok->consumer_tag));
    h->consumed_queues.push_back(q.name);
  }
  amqp_channel_open(h->conn, kPublishChannel);
  if (!check(amqp_get_rpc_reply(h->conn), "channel.open (publish)")) return;
  amqp_confirm_select(h->conn, kPublishChannel);
  if (!check(amqp_get_rpc_reply(h->conn), "confirm.select")) return;
  for (const DelayTier& tier : topology.delay_tiers) {
    const std::string name = tier.exchange();
    amqp_exchange_declare(h->conn, kPublishChannel, bytesOf(name), amqp_cstring_bytes("fanout"),
                          0, 1, 0, 0, amqp_empty_table);
    if (!check(amqp_get_rpc_reply(h->conn), "declare exchange " + name)) return;
    // Expired messages go to the default exchange with their own routing key: the
    // task queue they were parked from.
    nlohmann::json args = {{"x-message-ttl", tier.ttl.count()}, {"x-dead-letter-exchange", ""}};
    if (topology.quorum_delay_queues) args["x-queue-type"] = "quorum";
    TableBuilder table(args);
    amqp_queue_declare(h->conn, kPublishChannel, bytesOf(name), 0, 1, 0, 0, table.table());
    if (!check(amqp_get_rpc_reply(h->conn), "declare queue " + name)) return;
    amqp_queue_bind(h->conn, kPublishChannel, bytesOf(name), bytesOf(name), amqp_empty_bytes,
                    amqp_empty_table);
    if (!check(amqp_get_rpc_reply(h->conn), "declare binding " + name)) return;
  }
  // From here on the loop thread never waits on a reply, except in close().
  handle = std::move(h);
}

AmqpConnection::AmqpConnection(uv_loop_t* loop, balancer::Dispatcher& dispatcher,
                               AmqpOptions options, Callbacks callbacks)
    : loop_(loop),
      dispatcher_(dispatcher),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      backoff_(options_.backoff_min) {
  check_ = new uv_check_t;
  uv_check_init(loop_, check_);
  check_->data = this;
  heartbeat_timer_ = new uv_timer_t;
  uv_timer_init(loop_, heartbeat_timer_);
  heartbeat_timer_->data = this;
  backoff_timer_ = new uv_timer_t;
  uv_timer_init(loop_, backoff_timer_);
  backoff_timer_->data = this;
}

AmqpConnection::~AmqpConnection() {
  // A connect still on the thread pool finishes on its own; its result is dropped.
  if (pending_job_ != nullptr) pending_job_->owner = nullptr;
  state_ = State::kClosed;
  conn_.reset();
  uv::closeAndDelete(poll_);
  uv::closeAndDelete(check_);
  uv::closeAndDelete(heartbeat_timer_);
  uv::closeAndDelete(backoff_timer_);
}

void AmqpConnection::start() {
  if (state_ != State::kIdle) return;
  connect();
}

void AmqpConnection::connect() {
  state_ = State::kConnecting;
  auto* job = new ConnectJob;
  job->work.data = job;
  job->owner = this;
  job->url = options_.urls[url_index_ % options_.urls.size()];
  job->topology = options_.topology;
  job->prefetch = options_.prefetch;
  job->heartbeat_s = static_cast<int>(options_.heartbeat.count());
  job->timeout = options_.connect_timeout;
  pending_job_ = job;
  uv_queue_work(
      loop_, &job->work, [](uv_work_t* w) noexcept { static_cast<ConnectJob*>(w->data)->run(); },
      [](uv_work_t* w, int) noexcept {
        std::unique_ptr<ConnectJob> done(static_cast<ConnectJob*>(w->data));
        if (done->owner != nullptr) done->owner->onConnected(std::move(done));
      });
}

void AmqpConnection::onConnected(std::unique_ptr<ConnectJob> job) {
  pending_job_ = nullptr;
  if (state_ == State::kClosed) return;  // closed meanwhile: drop the connection
  if (!job->handle) {
    if (job->fatal) {
      state_ = State::kClosed;
      if (callbacks_.on_fatal) callbacks_.on_fatal(job->error);
      return;
    }
    ++url_index_;  // fail over to the next broker URL, if several
    if (callbacks_.on_broken) callbacks_.on_broken(job->error);
    scheduleReconnect();
    return;
  }
  conn_ = std::move(job->handle);
  ++generation_;
  acks_.reset();
  publish_seq_ = 0;  // confirm tags restart on the new channel
  declared_queues_.clear();
  for (const QueueSpec& q : options_.topology.queues) declared_queues_.insert(q.name);
  state_ = State::kOpen;
  consuming_ = true;
  backoff_ = options_.backoff_min;
  last_receive_ms_ = uv_now(loop_);

  poll_ = new uv_poll_t;
  uv_poll_init_socket(loop_, poll_, amqp_get_sockfd(conn_->conn));
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, [](uv_poll_t* p, int status, int) noexcept {
    auto* self = static_cast<AmqpConnection*>(p->data);
    if (status < 0) {
      self->broken(std::string("socket error: ") + uv_strerror(status));
      return;
    }
    self->last_receive_ms_ = uv_now(self->loop_);
    self->drain();
  });
  uv_check_start(check_, [](uv_check_t* c) noexcept {
    static_cast<AmqpConnection*>(c->data)->flushAcks();
  });
  const auto interval_ms =
      std::max<std::uint64_t>(1000, static_cast<std::uint64_t>(options_.heartbeat.count()) * 500);
  if (options_.heartbeat.count() > 0) {
    uv_timer_start(
        heartbeat_timer_,
        [](uv_timer_t* t) noexcept { static_cast<AmqpConnection*>(t->data)->sendHeartbeat(); },
        interval_ms, interval_ms);
  }
  if (callbacks_.on_open) callbacks_.on_open(generation_);
  // Frames may already sit in rabbitmq-c's buffer (read during the consume RPCs).
  drain();
}

void AmqpConnection::drain() {
  // Re-entrancy: on_delivery may call ack/reject, which only write; a callback that
  // breaks the connection sets state_ and we stop.
  while (state_ == State::kOpen) {
    amqp_maybe_release_buffers(conn_->conn);
    amqp_envelope_t envelope;
    timeval zero{0, 0};
    const amqp_rpc_reply_t reply = amqp_consume_message(conn_->conn, &envelope, &zero, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      Delivery d;
      d.ref = DeliveryRef{generation_, envelope.delivery_tag};
      const std::string consumer_tag = bytesToString(envelope.consumer_tag);
      for (std::size_t i = 0; i < conn_->consumer_tags.size(); ++i) {
        if (conn_->consumer_tags[i] == consumer_tag) d.queue = conn_->consumed_queues[i];
      }
      const amqp_basic_properties_t& p = envelope.message.properties;
      celery::RawMessage& m = d.message;
      if ((p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) != 0) m.content_type = bytesToString(p.content_type);
      if ((p._flags & AMQP_BASIC_CONTENT_ENCODING_FLAG) != 0)
        m.content_encoding = bytesToString(p.content_encoding);
      if ((p._flags & AMQP_BASIC_HEADERS_FLAG) != 0) m.headers = tableToJson(p.headers);
      if ((p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) != 0)
        m.correlation_id = bytesToString(p.correlation_id);
      if ((p._flags & AMQP_BASIC_REPLY_TO_FLAG) != 0) m.reply_to = bytesToString(p.reply_to);
      if ((p._flags & AMQP_BASIC_PRIORITY_FLAG) != 0) m.priority = p.priority;
      m.body = bytesToString(envelope.message.body);
      m.exchange = bytesToString(envelope.exchange);
      m.routing_key = bytesToString(envelope.routing_key);
      m.redelivered = envelope.redelivered != 0;
      amqp_destroy_envelope(&envelope);
      acks_.delivered(d.ref.tag);
      callbacks_.on_delivery(std::move(d));
      continue;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      if (reply.library_error == AMQP_STATUS_TIMEOUT) return;  // drained
      if (reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        if (!handleOtherFrame()) return;
        continue;
      }
    }
    broken("receive failed: " + describe(reply));
    return;
  }
}

// Reads one non-delivery frame. Returns false when draining should stop.
bool AmqpConnection::handleOtherFrame() {
  amqp_frame_t frame;
  timeval zero{0, 0};
  const int rc = amqp_simple_wait_frame_noblock(conn_->conn, &frame, &zero);
  if (rc == AMQP_STATUS_TIMEOUT) return false;
  if (rc != AMQP_STATUS_OK) {
    broken(std::string("receive failed: ") + amqp_error_string2(rc));
    return false;
  }
  if (frame.frame_type != AMQP_FRAME_METHOD) return true;  // stray header/body: skip
  switch (frame.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      const auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
      if (frame.channel == kPublishChannel) confirmed(m->delivery_tag, m->multiple != 0, true);
      return state_ == State::kOpen;
    }
    case AMQP_BASIC_NACK_METHOD: {
      const auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
      if (frame.channel == kPublishChannel) confirmed(m->delivery_tag, m->multiple != 0, false);
      return state_ == State::kOpen;
    }
    case AMQP_BASIC_QOS_OK_METHOD:
    case AMQP_BASIC_CANCEL_OK_METHOD:
    case AMQP_BASIC_CONSUME_OK_METHOD:
      return true;
    case AMQP_BASIC_CANCEL_METHOD:
      // The broker cancelled our consumer (queue deleted, node down for a quorum
      // queue). Reconnecting re-declares and re-consumes: a worker must never
      // silently stop consuming.
      broken("consumer cancelled by the broker");
      return false;
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
      broken("channel closed by broker: " + std::to_string(m->reply_code) + " " +
             bytesToString(m->reply_text));
      return false;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
      broken("connection closed by broker: " + std::to_string(m->reply_code) + " " +
             bytesToString(m->reply_text));
      return false;
    }
    default:
      return true;
  }
}

void AmqpConnection::flushAcks() {
  if (state_ != State::kOpen || !acks_.hasAckable()) return;
  const AckTracker::Plan plan = acks_.takeAcks();
  if (plan.multiple_up_to) {
    if (amqp_basic_ack(conn_->conn, kConsumeChannel, *plan.multiple_up_to, 1) != AMQP_STATUS_OK) {
      broken("ack failed");
      return;
    }
  }
  for (std::uint64_t tag : plan.singles) {
    if (amqp_basic_ack(conn_->conn, kConsumeChannel, tag, 0) != AMQP_STATUS_OK) {
      broken("ack failed");
      return;
    }
  }
}

void AmqpConnection::ack(DeliveryRef ref) {
  if (state_ != State::kOpen || ref.generation != generation_) return;
  acks_.finished(ref.tag);
}

void AmqpConnection::reject(DeliveryRef ref, bool requeue) {
  if (state_ != State::kOpen || ref.generation != generation_) return;
  acks_.settled(ref.tag);
  if (amqp_basic_reject(conn_->conn, kConsumeChannel, ref.tag, requeue ? 1 : 0) != AMQP_STATUS_OK) {
    broken("reject failed");
  }
}

void AmqpConnection::setPrefetch(std::uint16_t prefetch) {
  options_.prefetch = prefetch;
  if (state_ != State::kOpen) return;
  amqp_basic_qos_t req{};
  req.prefetch_count = prefetch;
  req.global = 0;
  if (amqp_send_method(conn_->conn, kConsumeChannel, AMQP_BASIC_QOS_METHOD, &req) !=
      AMQP_STATUS_OK) {
    broken("basic.qos failed");
  }
}

void AmqpConnection::cancelConsumers() {
  consuming_ = false;
  options_.topology.queues.clear();  // a reconnect during shutdown consumes nothing
  if (state_ != State::kOpen) return;
  for (const std::string& tag : conn_->consumer_tags) {
    amqp_basic_cancel_t req{};
    req.consumer_tag = bytesOf(tag);
    req.nowait = 0;
    if (amqp_send_method(conn_->conn, kConsumeChannel, AMQP_BASIC_CANCEL_METHOD, &req) !=
        AMQP_STATUS_OK) {
      broken("basic.cancel failed");
      return;
    }
  }
}

void AmqpConnection::publish(OutgoingMessage message, std::function<void(bool)> done) {
  if (state_ != State::kOpen) {
    dispatcher_.post([done = std::move(done)] { done(false); });
    return;
  }
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                 AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
  props.content_type = bytesOf(message.content_type);
  props.content_encoding = bytesOf(message.content_encoding);
  props.delivery_mode = 2;  // persistent
  TableBuilder headers(message.headers);
  props.headers = headers.table();
  if (!message.correlation_id.empty()) {
    props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
    props.correlation_id = bytesOf(message.correlation_id);
  }
  if (!message.reply_to.empty()) {
    props._flags |= AMQP_BASIC_REPLY_TO_FLAG;
    props.reply_to = bytesOf(message.reply_to);
  }
  if (message.priority) {
    props._flags |= AMQP_BASIC_PRIORITY_FLAG;
    props.priority = *message.priority;
  }
  if (message.exchange.empty() && !declared_queues_.contains(message.routing_key)) {
    declareQueueNoWait(message.routing_key);
    if (state_ != State::kOpen) {
      dispatcher_.post([done = std::move(done)] { done(false); });
      return;
    }
  }
  const int rc = amqp_basic_publish(conn_->conn, kPublishChannel, bytesOf(message.exchange),
                                    bytesOf(message.routing_key), 0, 0, &props,
                                    bytesOf(message.body));
  if (rc != AMQP_STATUS_OK) {
    dispatcher_.post([done = std::move(done)] { done(false); });
    broken(std::string("publish failed: ") + amqp_error_string2(rc));
    return;
  }
  pending_confirms_.emplace(++publish_seq_, std::move(done));
}

void AmqpConnection::declareQueueNoWait(const std::string& queue) {
  // The same declaration as our own task queues (worker/amqp/topology.h), so a Python
  // worker or client declaring it too sees equivalent arguments.
  nlohmann::json args = nlohmann::json::object();
  if (!options_.topology.queues.empty()) {
    const QueueSpec& like = options_.topology.queues.front();
    if (like.max_priority) args["x-max-priority"] = *like.max_priority;
    if (like.quorum) args["x-queue-type"] = "quorum";
  }
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
  if (amqp_send_method(conn_->conn, kPublishChannel, AMQP_EXCHANGE_DECLARE_METHOD, &exchange) !=
          AMQP_STATUS_OK ||
      amqp_send_method(conn_->conn, kPublishChannel, AMQP_QUEUE_DECLARE_METHOD, &declare) !=
          AMQP_STATUS_OK ||
      amqp_send_method(conn_->conn, kPublishChannel, AMQP_QUEUE_BIND_METHOD, &bind) !=
          AMQP_STATUS_OK) {
    broken("declaring queue " + queue + " failed");
    return;
  }
  declared_queues_.insert(queue);
}

void AmqpConnection::confirmed(std::uint64_t tag, bool multiple, bool ok) {
  auto end = multiple ? pending_confirms_.upper_bound(tag) : pending_confirms_.find(tag);
  auto begin = multiple ? pending_confirms_.begin() : end;
  if (!multiple) {
    if (end == pending_confirms_.end()) return;
    ++end;
  }
  std::vector<std::function<void(bool)>> callbacks;
  for (auto it = begin; it != end; ++it) callbacks.push_back(std::move(it->second));
  pending_confirms_.erase(begin, end);
  for (auto& cb : callbacks) cb(ok);
}

void AmqpConnection::failPendingPublishes() {
  // The broker may or may not have stored them; callers treat them as not stored.
  auto pending = std::move(pending_confirms_);
  pending_confirms_.clear();
  publish_seq_ = 0;
  for (auto& [tag, cb] : pending) {
    dispatcher_.post([cb = std::move(cb)] { cb(false); });
  }
}

void AmqpConnection::sendHeartbeat() {
  if (state_ != State::kOpen) return;
  const std::uint64_t silent_ms = uv_now(loop_) - last_receive_ms_;
  if (silent_ms > static_cast<std::uint64_t>(options_.heartbeat.count()) * 2000) {
    broken("missed broker heartbeats for " + std::to_string(silent_ms) + " ms");
    return;
  }
  amqp_frame_t frame{};
  frame.frame_type = AMQP_FRAME_HEARTBEAT;
  frame.channel = 0;
  if (amqp_send_frame(conn_->conn, &frame) != AMQP_STATUS_OK) broken("heartbeat send failed");
}

void AmqpConnection::broken(const std::string& reason) {
  if (state_ != State::kOpen) return;
  // Leave kOpen before anything else runs: on_broken's handlers may call back into
  // setPrefetch/ack/publish, which must see a closed connection, not the null conn_.
  // (They did: a held ETA task made onChannelLost send basic.qos on conn_ == nullptr.)
  state_ = State::kBackoff;
  uv::closeAndDelete(poll_);
  poll_ = nullptr;
  uv_check_stop(check_);
  uv_timer_stop(heartbeat_timer_);
  conn_.reset();
  acks_.reset();
  failPendingPublishes();
  ++url_index_;
  if (callbacks_.on_broken) callbacks_.on_broken(reason);
  scheduleReconnect();
}

void AmqpConnection::scheduleReconnect() {
  state_ = State::kBackoff;
  // Full jitter: a fleet of workers that lost the same broker does not come back in step.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<long> pick(options_.backoff_min.count(), backoff_.count());
  const auto delay = static_cast<std::uint64_t>(pick(rng));
  backoff_ = std::min(options_.backoff_max, backoff_ * 2);
  uv_timer_start(
      backoff_timer_,
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<AmqpConnection*>(t->data);
        if (self->state_ == State::kBackoff) self->connect();
      },
      delay, 0);
}

void AmqpConnection::close() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kOpen) {
    flushAcks();
    if (conn_) {
      // Polite close, bounded by the rpc timeout set at connect.
      amqp_channel_close(conn_->conn, kConsumeChannel, AMQP_REPLY_SUCCESS);
      amqp_connection_close(conn_->conn, AMQP_REPLY_SUCCESS);
    }
  }
  state_ = State::kClosed;
  uv::closeAndDelete(poll_);
  poll_ = nullptr;
  uv_check_stop(check_);
  uv_timer_stop(heartbeat_timer_);
  uv_timer_stop(backoff_timer_);
  conn_.reset();
  failPendingPublishes();
}

}  // namespace celeriac::worker::amqp
