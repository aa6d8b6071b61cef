#include "worker/amqp/transient_backlog.h"

namespace celeriac::worker::amqp {

void TransientBacklog::Lease::release() {
  if (owner_ && bytes_ > 0) owner_->give(bytes_);
  bytes_ = 0;
  owner_.reset();
}

std::optional<TransientBacklog::Lease> TransientBacklog::reserve(std::size_t body_bytes) {
  const std::size_t want = body_bytes + kMessageOverhead;
  std::size_t current = bytes_.load(std::memory_order_acquire);
  do {
    if (want > limit_bytes_ || current > limit_bytes_ - want) return std::nullopt;
  } while (!bytes_.compare_exchange_weak(current, current + want, std::memory_order_acq_rel));
  return Lease(shared_from_this(), want);
}

}  // namespace celeriac::worker::amqp
