#pragma once
// Small helpers shared by the rabbitmq-c code of the AMQP I/O thread: channel numbers,
// byte conversions, reply descriptions and queue arguments. Internal to worker/amqp.

#include <amqp.h>
#include <sys/time.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/amqp/topology.h"

namespace celeriac::worker::amqp {

inline constexpr amqp_channel_t kConsumeChannel = 1;
// Publishing gets a channel of its own in confirm mode: confirms and consumer acks
// never share delivery-tag sequences.
inline constexpr amqp_channel_t kPublishChannel = 2;
inline constexpr int kFrameMax = 131072;

// A view of `s` for rabbitmq-c, valid while `s` lives and is not modified.
inline amqp_bytes_t bytesOf(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());
  return b;
}

inline std::string bytesToString(const amqp_bytes_t& b) {
  if (b.len == 0 || b.bytes == nullptr) return {};
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

inline timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

// Describes an RPC reply for logs (server texts never contain credentials); sets
// `server_code` to the reply code of a channel or connection close.
std::string describeReply(const amqp_rpc_reply_t& reply, int* server_code = nullptr);

// The x-arguments a task queue is declared with (x-max-priority, x-queue-type).
nlohmann::json queueArguments(const QueueSpec& queue);

}  // namespace celeriac::worker::amqp
