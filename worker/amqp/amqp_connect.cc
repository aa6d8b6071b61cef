// AmqpSession::open: connecting, logging in and declaring, on the AMQP I/O thread.
//
// The blocking RPCs (login, channel.open of every channel in amqp_wire.h, declarations
// (topology_declarer.h), qos, consume, confirm.select)
// are fine here: this is the I/O thread, and each one is bounded by the connect
// timeout (amqp_set_rpc_timeout). Declarations are exactly Celery's (topology.h), so
// either side may declare first without 406 PRECONDITION_FAILED.

#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "worker/amqp/amqp_session.h"
#include "worker/amqp/amqp_table.h"
#include "worker/amqp/amqp_wire.h"
#include "worker/amqp/topology_declarer.h"

namespace celeriac::worker::amqp {

struct SessionOpener {
  const AmqpSession::Config& config;
  const io::Connect& request;
  const std::atomic<bool>& stopping;
  AmqpSession::OpenResult result;

  // True when the RPC succeeded; otherwise records why (and whether it is fatal).
  bool check(const amqp_rpc_reply_t& reply, const std::string& what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL && !stopping.load()) return true;
    if (stopping.load()) {
      result.error = "closing";
      return false;
    }
    int code = 0;
    result.error = what + ": " + describeReply(reply, &code);
    // 406 PRECONDITION_FAILED (queue declared with other arguments) and 403
    // ACCESS_REFUSED on a declaration cannot be fixed by retrying.
    result.fatal = (code == 406 || code == 403) && what.rfind("declare", 0) == 0;
    return false;
  }

  bool declared(const std::optional<DeclareFailure>& failure) {
    if (failure) return check(failure->reply, failure->what);
    amqp_rpc_reply_t ok{};
    ok.reply_type = AMQP_RESPONSE_NORMAL;
    return check(ok, "declare");  // fails only when closing
  }

  // Exchanges first (auto-ack queues bind to them), then task queues, delay tiers and
  // auto-ack queues. A refusal here is fatal (check()): the configuration is wrong.
  bool declareTopology(amqp_connection_state_t conn) {
    const Topology& topology = config.topology;
    TopologyDeclarer declare(conn, kConsumeChannel);
    for (const ExchangeSpec& e : topology.exchanges) {
      if (!declared(declare.exchange(e))) return false;
    }
    for (const QueueSpec& q : request.queues) {
      if (!declared(declare.taskQueue(q))) return false;
    }
    TopologyDeclarer publish_channel(conn, kPublishChannel);
    for (const DelayTier& tier : topology.delay_tiers) {
      if (!declared(publish_channel.delayTier(tier, topology.quorum_delay_queues))) return false;
    }
    TopologyDeclarer auto_ack_channel(conn, kAutoAckChannel);
    for (const AutoAckQueueSpec& q : topology.auto_ack_queues) {
      if (!declared(auto_ack_channel.autoAckQueue(q))) return false;
    }
    return true;
  }

  bool consume(AmqpSession& s) {
    amqp_connection_state_t conn = s.conn_;
    // Classic queues: one channel-wide limit (global=1), which RabbitMQ applies at
    // once when it changes later, as Celery 5.2 does. Quorum queues refuse global QoS:
    // a per-consumer limit, changed by re-creating the consumer (consumer_window.h).
    amqp_basic_qos(conn, kConsumeChannel, 0, request.prefetch, request.global_qos ? 1 : 0);
    if (!check(amqp_get_rpc_reply(conn), "basic.qos")) return false;
    const auto& queues = request.queues;
    for (std::size_t i = 0; i < queues.size() && i < request.consumer_tags.size(); ++i) {
      const std::string& tag = request.consumer_tags[i];
      amqp_basic_consume(conn, kConsumeChannel, bytesOf(queues[i].name), bytesOf(tag), 0, 0, 0,
                         amqp_empty_table);
      if (!check(amqp_get_rpc_reply(conn), "basic.consume " + queues[i].name)) return false;
      s.consumers_[tag] = AmqpSession::ConsumerInfo{i, 0, queues[i].name, false};
    }
    // Auto-ack consumers (no_ack=1): prefetch does not apply to them, and they are
    // consumed even after cancelConsumers() (remote control works during shutdown).
    const auto& auto_ack = config.topology.auto_ack_queues;
    for (std::size_t i = 0; i < auto_ack.size(); ++i) {
      const std::string tag =
          "celeriac." + std::to_string(request.generation) + ".auto." + std::to_string(i);
      amqp_basic_consume(conn, kAutoAckChannel, bytesOf(auto_ack[i].name), bytesOf(tag), 0, 1, 0,
                         amqp_empty_table);
      if (!check(amqp_get_rpc_reply(conn), "basic.consume " + auto_ack[i].name)) return false;
      s.consumers_[tag] = AmqpSession::ConsumerInfo{i, 0, auto_ack[i].name, true};
    }
    return true;
  }

  void run(AmqpSession::SocketListener on_socket) {
    const BrokerUrl& url = request.url;
    std::unique_ptr<AmqpSession> s(
        new AmqpSession(request.generation, config, std::move(on_socket)));
    s->conn_ = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(s->conn_);
    if (socket == nullptr) {
      result.error = "cannot create socket";
      return;
    }
    timeval tv = toTimeval(config.connect_timeout);
    amqp_set_handshake_timeout(s->conn_, &tv);
    amqp_set_rpc_timeout(s->conn_, &tv);
    // Resolving the host name blocks: fine, this is the I/O thread.
    if (int rc = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &tv);
        rc != AMQP_STATUS_OK) {
      result.error = "cannot connect to " + url.redacted() + ": " + amqp_error_string2(rc);
      return;
    }
    s->on_socket_(amqp_get_sockfd(s->conn_));
    // Acks are small frames sent as soon as results are stored; Nagle would hold them
    // back waiting for the broker's delayed ACK, capping throughput.
    const int one = 1;
    setsockopt(amqp_get_sockfd(s->conn_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Capabilities: RabbitMQ tells a client that announces them when it blocks the
    // connection (resource alarm) and when it cancels a consumer (queue deleted, quorum
    // leader lost); without consumer_cancel_notify a consumer could silently stop.
    const nlohmann::json properties = {{"product", "celeriac"},
                                       {"capabilities",
                                        {{"connection.blocked", true},
                                         {"consumer_cancel_notify", true},
                                         {"publisher_confirms", true},
                                         {"basic.nack", true}}}};
    TableBuilder client_properties(properties);
    if (!check(amqp_login_with_properties(s->conn_, url.vhost.c_str(), 0, kFrameMax,
                                          static_cast<int>(config.heartbeat.count()),
                                          &client_properties.table(), AMQP_SASL_METHOD_PLAIN,
                                          url.user.c_str(), url.password.c_str()),
               "login to " + url.redacted()))
      return;
    amqp_channel_open(s->conn_, kConsumeChannel);
    if (!check(amqp_get_rpc_reply(s->conn_), "channel.open")) return;
    amqp_channel_open(s->conn_, kPublishChannel);
    if (!check(amqp_get_rpc_reply(s->conn_), "channel.open (publish)")) return;
    amqp_confirm_select(s->conn_, kPublishChannel);
    if (!check(amqp_get_rpc_reply(s->conn_), "confirm.select")) return;
    for (const amqp_channel_t channel : {kTransientChannel, kAutoAckChannel, kDeclareChannel}) {
      amqp_channel_open(s->conn_, channel);
      if (!check(amqp_get_rpc_reply(s->conn_), "channel.open " + std::to_string(channel))) return;
    }
    if (!declareTopology(s->conn_)) return;
    if (!consume(*s)) return;
    for (const QueueSpec& q : request.queues) s->declared_queues_.insert(q.name);
    result.session = std::move(s);
  }
};

AmqpSession::OpenResult AmqpSession::open(const Config& config, const io::Connect& request,
                                          SocketListener on_socket,
                                          const std::atomic<bool>& stopping) {
  SessionOpener opener{config, request, stopping, {}};
  opener.run(std::move(on_socket));
  return std::move(opener.result);
}

}  // namespace celeriac::worker::amqp
