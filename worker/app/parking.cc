#include "worker/app/parking.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "worker/celery/iso_time.h"

namespace celeriac::worker::app {

std::optional<amqp::DelayTier> pickTier(const std::vector<amqp::DelayTier>& tiers,
                                        std::chrono::milliseconds delay) {
  if (tiers.empty()) return std::nullopt;
  std::optional<amqp::DelayTier> best;
  for (const amqp::DelayTier& t : tiers) {
    if (t.ttl <= delay) best = t;
  }
  return best ? best : tiers.front();
}

namespace {

int parkCountOf(const nlohmann::json& headers) {
  if (!headers.is_object()) return 0;
  auto it = headers.find(kParkCountHeader);
  return it != headers.end() && it->is_number_integer() ? it->get<int>() : 0;
}

}  // namespace

int parkCount(const amqp::Delivery& delivery) { return parkCountOf(delivery.message.headers); }

void stripParkHeaders(nlohmann::json& headers) {
  if (!headers.is_object()) return;
  headers.erase(kParkCountHeader);
  headers.erase(kParkReasonHeader);
  headers.erase(kParkedSinceHeader);
}

amqp::OutgoingMessage parkedMessage(const amqp::Delivery& delivery, const amqp::DelayTier& tier,
                                    const std::string& reason,
                                    std::chrono::system_clock::time_point now) {
  const celery::RawMessage& m = delivery.message;
  amqp::OutgoingMessage out;
  out.content_type = m.content_type;
  out.content_encoding = m.content_encoding;
  out.correlation_id = m.correlation_id;
  out.reply_to = m.reply_to;
  out.priority = m.priority;
  out.body = m.body;
  out.headers = m.headers;
  return parkedCopy(std::move(out), delivery.queue, tier, reason, now);
}

amqp::OutgoingMessage parkedCopy(amqp::OutgoingMessage out, const std::string& queue,
                                 const amqp::DelayTier& tier, const std::string& reason,
                                 std::chrono::system_clock::time_point now) {
  out.exchange = tier.exchange();
  out.routing_key = queue;  // where the dead-lettered message lands
  if (!out.headers.is_object()) out.headers = nlohmann::json::object();
  for (auto it = out.headers.begin(); it != out.headers.end();) {
    if (it.key().rfind("x-death", 0) == 0 || it.key().rfind("x-first-death", 0) == 0 ||
        it.key().rfind("x-last-death", 0) == 0) {
      it = out.headers.erase(it);
    } else {
      ++it;
    }
  }
  out.headers[kParkCountHeader] = parkCountOf(out.headers) + 1;
  out.headers[kParkReasonHeader] = reason;
  if (!out.headers.contains(kParkedSinceHeader)) {
    out.headers[kParkedSinceHeader] = celery::formatIsoTime(now);
  }
  return out;
}

common::Result<std::vector<amqp::DelayTier>> parseDelayTiers(const std::string& text) {
  std::vector<amqp::DelayTier> tiers;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) continue;
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    const std::string unit(end, static_cast<std::size_t>(item.data() + item.size() - end));
    std::int64_t ms = 0;
    if (unit == "ms") ms = value;
    else if (unit == "s") ms = value * 1000;
    else if (unit == "m") ms = value * 60'000;
    else if (unit == "h") ms = value * 3'600'000;
    if (ec != std::errc{} || value <= 0 || ms == 0) {
      return common::Error{"delay tier '" + item +
                           "' must be a positive number with ms, s, m or h"};
    }
    tiers.push_back(amqp::DelayTier{item, std::chrono::milliseconds(ms)});
  }
  std::sort(tiers.begin(), tiers.end(), [](const auto& a, const auto& b) { return a.ttl < b.ttl; });
  return tiers;
}

}  // namespace celeriac::worker::app
