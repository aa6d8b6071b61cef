#pragma once
// The AMQP shell's logger ("celeriac.amqp"). Internal to worker/amqp, loop thread.

#include <spdlog/spdlog.h>

#include <memory>

namespace celeriac::worker::amqp {

inline std::shared_ptr<spdlog::logger> amqpLog() {
  auto existing = spdlog::get("celeriac.amqp");
  return existing ? existing : spdlog::default_logger()->clone("celeriac.amqp");
}

}  // namespace celeriac::worker::amqp
