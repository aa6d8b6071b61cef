#pragma once
// Parking: what a parked task message looks like and which delay tier it goes to.
//
// A parked task is republished unchanged (same properties, body and Celery headers)
// to a delay tier's exchange with its original queue as routing key; when the tier's
// TTL expires RabbitMQ dead-letters it back onto that queue (worker/amqp/topology.h).
// Three headers are added: how often it was parked, why, and since when (for the
// maximum parked time). RabbitMQ's own x-death bookkeeping is stripped, as Celery
// strips it on retry, so headers do not grow with every round trip.
// Pure: no I/O, time passed in.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "worker/amqp/amqp_connection.h"
#include "worker/amqp/topology.h"

namespace celeriac::worker::app {

inline constexpr const char* kParkCountHeader = "x-celeriac-parks";
inline constexpr const char* kParkReasonHeader = "x-celeriac-park-reason";
inline constexpr const char* kParkedSinceHeader = "x-celeriac-parked-since";

// The longest tier not longer than `delay`; the shortest tier when all are longer.
// nullopt when there are no tiers.
std::optional<amqp::DelayTier> pickTier(const std::vector<amqp::DelayTier>& tiers_shortest_first,
                                        std::chrono::milliseconds delay);

// The message to publish for parking `delivery` (consumed from `delivery.queue`).
amqp::OutgoingMessage parkedMessage(const amqp::Delivery& delivery, const amqp::DelayTier& tier,
                                    const std::string& reason,
                                    std::chrono::system_clock::time_point now);

// `message` (any task message bound for `queue`) redirected into `tier`, with the park
// headers updated as above. parkedMessage() is this applied to a delivery's copy; a
// retry parks its new message this way (worker/app/pipeline/retry_plan.h).
amqp::OutgoingMessage parkedCopy(amqp::OutgoingMessage message, const std::string& queue,
                                 const amqp::DelayTier& tier, const std::string& reason,
                                 std::chrono::system_clock::time_point now);

// Removes the three park headers: a retry is a new message whose parks start at zero.
void stripParkHeaders(nlohmann::json& headers);

// How many times a message was parked already (0 if never).
int parkCount(const amqp::Delivery& delivery);

// Parses "5s,30s,2m,10m,1h" (units ms, s, m, h) into tiers sorted shortest first; the
// Error names the first item that is not a positive number with a unit.
common::Result<std::vector<amqp::DelayTier>> parseDelayTiers(const std::string& text);

}  // namespace celeriac::worker::app
