#include "worker/amqp/reconnect_backoff.h"

#include <algorithm>

namespace celeriac::worker::amqp {

ReconnectBackoff::ReconnectBackoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                   std::uint32_t seed)
    : min_(min), max_(std::max(min, max)), cap_(min), rng_(seed) {}

std::chrono::milliseconds ReconnectBackoff::next() {
  std::uniform_int_distribution<std::int64_t> pick(min_.count(), cap_.count());
  const std::chrono::milliseconds delay(pick(rng_));
  cap_ = std::min(max_, cap_ * 2);
  return delay;
}

}  // namespace celeriac::worker::amqp
