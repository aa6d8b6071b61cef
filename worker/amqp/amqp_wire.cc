#include "worker/amqp/amqp_wire.h"

namespace celeriac::worker::amqp {

std::string describeReply(const amqp_rpc_reply_t& reply, int* server_code) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
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

nlohmann::json queueArguments(const QueueSpec& queue) {
  nlohmann::json args = nlohmann::json::object();
  if (queue.max_priority) args["x-max-priority"] = *queue.max_priority;
  if (queue.quorum) args["x-queue-type"] = "quorum";
  return args;
}

nlohmann::json autoAckQueueArguments(const AutoAckQueueSpec& queue) {
  // kombu's Queue turns message_ttl/expires seconds into integer milliseconds
  // (kombu/transport/base.py, to_rabbitmq_queue_arguments, maybe_s_to_ms): 300 s -> 300000, 10 s ->
  // 10000.
  nlohmann::json args = nlohmann::json::object();
  if (queue.message_ttl) args["x-message-ttl"] = queue.message_ttl->count();
  if (queue.expires) args["x-expires"] = queue.expires->count();
  return args;
}

}  // namespace celeriac::worker::amqp
