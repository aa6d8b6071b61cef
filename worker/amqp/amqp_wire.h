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

// The channels of one connection, each with one job and each opened again on every
// connection (amqp_connect.cc). A new channel is a constant here, a channel.open there
// and, if the broker may close it on its own, a case in AmqpSession::onMethod.
//
// Task queues, consumed with acks (delivery tags are this channel's).
inline constexpr amqp_channel_t kConsumeChannel = 1;
// Publishing gets a channel of its own in confirm mode: confirms and consumer acks
// never share delivery-tag sequences.
inline constexpr amqp_channel_t kPublishChannel = 2;
// Transient publishes (events, remote-control replies) without confirms, so they never
// take a confirm sequence number. The broker closes it for a publish to a missing
// exchange (404); it is then re-opened, not the connection broken (AmqpSession).
inline constexpr amqp_channel_t kTransientChannel = 3;
// Auto-ack (no_ack) consumers (the remote-control queue): apart from kConsumeChannel so
// their delivery tags never mix with the acked ones, and from kTransientChannel so a
// bad reply never cancels them (their queue is auto-delete: it would be deleted).
inline constexpr amqp_channel_t kAutoAckChannel = 4;
// Declarations made while running (AmqpConnection::addQueue), as RPCs: a refusal
// (406) closes only this channel, which is re-opened, and fails only that queue.
inline constexpr amqp_channel_t kDeclareChannel = 5;
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
// The x-arguments of an auto-ack queue (x-message-ttl, x-expires, in milliseconds).
nlohmann::json autoAckQueueArguments(const AutoAckQueueSpec& queue);

}  // namespace celeriac::worker::amqp
