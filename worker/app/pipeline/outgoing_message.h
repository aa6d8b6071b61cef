#pragma once
// toOutgoing(): a protocol-level OutboundMessage (worker/celery, pure) as the AMQP
// layer's OutgoingMessage. The two stay separate types so worker/celery never includes
// an AMQP header; this is the one place that maps one onto the other. Pure.

#include <utility>

#include "worker/amqp/amqp_types.h"
#include "worker/celery/canvas.h"

namespace celeriac::worker::app::pipeline {

inline amqp::OutgoingMessage toOutgoing(celery::OutboundMessage m) {
  amqp::OutgoingMessage out;
  out.exchange = std::move(m.exchange);
  out.routing_key = std::move(m.routing_key);
  out.content_type = std::move(m.content_type);
  out.content_encoding = std::move(m.content_encoding);
  out.correlation_id = std::move(m.correlation_id);
  out.reply_to = std::move(m.reply_to);
  out.priority = m.priority;
  out.headers = std::move(m.headers);
  out.body = std::move(m.body);
  return out;
}

}  // namespace celeriac::worker::app::pipeline
