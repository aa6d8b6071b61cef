#include "worker/amqp/delivery_assembler.h"

#include <algorithm>

#include "worker/amqp/amqp_table.h"
#include "worker/amqp/amqp_wire.h"

namespace celeriac::worker::amqp {

namespace {
// Room reserved up front for a body: the size the broker announces, but no more than
// this, so a header claiming gigabytes cannot make us allocate them before they come.
constexpr std::uint64_t kMaxReserve = 16u << 20;
}  // namespace

DeliveryAssembler::Result DeliveryAssembler::fail(std::string why) {
  error_ = std::move(why);
  stage_ = Stage::kIdle;
  current_ = Assembled{};
  return Result::kError;
}

DeliveryAssembler::Result DeliveryAssembler::onFrame(const amqp_frame_t& frame) {
  switch (stage_) {
    case Stage::kIdle: {
      if (frame.frame_type != AMQP_FRAME_METHOD ||
          frame.payload.method.id != AMQP_BASIC_DELIVER_METHOD) {
        if (frame.frame_type == AMQP_FRAME_METHOD) return Result::kNotMine;
        return fail("content frame outside a delivery");
      }
      const auto* d = static_cast<const amqp_basic_deliver_t*>(frame.payload.method.decoded);
      current_ = Assembled{};
      current_.delivery_tag = d->delivery_tag;
      current_.consumer_tag = bytesToString(d->consumer_tag);
      current_.message.exchange = bytesToString(d->exchange);
      current_.message.routing_key = bytesToString(d->routing_key);
      current_.message.redelivered = d->redelivered != 0;
      stage_ = Stage::kHeader;
      return Result::kPending;
    }
    case Stage::kHeader: {
      if (frame.frame_type != AMQP_FRAME_HEADER) return fail("expected a content header");
      const auto* p = static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded);
      celery::RawMessage& m = current_.message;
      if (p != nullptr) {
        if ((p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG) != 0)
          m.content_type = bytesToString(p->content_type);
        if ((p->_flags & AMQP_BASIC_CONTENT_ENCODING_FLAG) != 0)
          m.content_encoding = bytesToString(p->content_encoding);
        if ((p->_flags & AMQP_BASIC_HEADERS_FLAG) != 0) m.headers = tableToJson(p->headers);
        if ((p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) != 0)
          m.correlation_id = bytesToString(p->correlation_id);
        if ((p->_flags & AMQP_BASIC_REPLY_TO_FLAG) != 0) m.reply_to = bytesToString(p->reply_to);
        if ((p->_flags & AMQP_BASIC_PRIORITY_FLAG) != 0) m.priority = p->priority;
      }
      body_size_ = frame.payload.properties.body_size;
      if (body_size_ == 0) {
        stage_ = Stage::kIdle;
        return Result::kComplete;
      }
      m.body.reserve(static_cast<std::size_t>(std::min(body_size_, kMaxReserve)));
      stage_ = Stage::kBody;
      return Result::kPending;
    }
    case Stage::kBody: {
      if (frame.frame_type != AMQP_FRAME_BODY) return fail("expected a body frame");
      std::string& body = current_.message.body;
      const amqp_bytes_t& fragment = frame.payload.body_fragment;
      if (body.size() + fragment.len > body_size_) return fail("body longer than announced");
      body.append(static_cast<const char*>(fragment.bytes), fragment.len);
      if (body.size() < body_size_) return Result::kPending;
      stage_ = Stage::kIdle;
      return Result::kComplete;
    }
  }
  return Result::kNotMine;
}

DeliveryAssembler::Assembled DeliveryAssembler::take() {
  Assembled out = std::move(current_);
  current_ = Assembled{};
  return out;
}

}  // namespace celeriac::worker::amqp
