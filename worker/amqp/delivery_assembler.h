#pragma once
// DeliveryAssembler: turns the frames of one consume channel into whole deliveries.
//
// In AMQP 0-9-1 a delivery is a basic.deliver method frame, then a content header frame
// (properties and body size), then body frames until the size is reached, with no other
// frame of that channel in between (AMQP 0-9-1 specification, 4.2.6). rabbitmq-c's
// amqp_consume_message reads those with no deadline; the I/O thread instead reads
// frames one at a time with a (near) zero timeout and hands each to this assembler, so
// a slow body never holds up acks, publishes or heartbeats on the same connection.
//
// Everything is copied out of rabbitmq-c's pools at once (strings, a JSON copy of the
// headers), so the caller may release rabbitmq-c's buffers after any frame.
// Pure: no I/O. Lives on the AMQP I/O thread.

#include <amqp.h>

#include <cstdint>
#include <string>

#include "worker/celery/raw_message.h"

namespace celeriac::worker::amqp {

class DeliveryAssembler {
 public:
  enum class Result {
    kNotMine,   // a frame that is not part of a delivery (another method): caller's
    kPending,   // taken; the delivery is not complete yet
    kComplete,  // the delivery is complete: take() it
    kError,     // a protocol violation (error() says which): the connection is unusable
  };

  struct Assembled {
    std::uint64_t delivery_tag = 0;
    std::string consumer_tag;
    celery::RawMessage message;
  };

  // One frame received on the consume channel.
  Result onFrame(const amqp_frame_t& frame);
  Assembled take();
  [[nodiscard]] const std::string& error() const { return error_; }
  // True between a basic.deliver and its last body frame.
  [[nodiscard]] bool inProgress() const { return stage_ != Stage::kIdle; }

 private:
  enum class Stage { kIdle, kHeader, kBody };
  Result fail(std::string why);

  Stage stage_ = Stage::kIdle;
  std::uint64_t body_size_ = 0;
  Assembled current_;
  std::string error_;
};

}  // namespace celeriac::worker::amqp
