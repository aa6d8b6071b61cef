#pragma once
// ConfirmTracker: which of our publishes a publisher confirm (basic.ack/nack on a
// channel in confirm mode) settles.
//
// RabbitMQ numbers every message published on a confirm-mode channel 1, 2, 3, ... and
// answers with basic.ack or basic.nack naming one sequence number, or with multiple=1
// every one up to it (RabbitMQ's "Publisher Confirms" guide). The caller knows its
// publishes by its own ids; this maps between the two. A new channel starts over at 1:
// reset() then.
// Pure: no I/O. Lives on the AMQP I/O thread (amqp_io_thread.h).

#include <cstdint>
#include <map>
#include <vector>

namespace celeriac::worker::amqp {

class ConfirmTracker {
 public:
  // A message was published on the channel; `id` is the caller's. Returns the sequence
  // number the broker will confirm it by.
  std::uint64_t sent(std::uint64_t id);
  // basic.ack or basic.nack with `tag` and `multiple`: the ids it settles, oldest first.
  // Tags never sent, or already settled, settle nothing.
  std::vector<std::uint64_t> settle(std::uint64_t tag, bool multiple);
  [[nodiscard]] std::size_t pending() const { return ids_by_seq_.size(); }
  void reset();

 private:
  std::uint64_t last_seq_ = 0;
  std::map<std::uint64_t, std::uint64_t> ids_by_seq_;
};

}  // namespace celeriac::worker::amqp
