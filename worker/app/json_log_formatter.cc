#include "worker/app/json_log_formatter.h"

#include <fmt/format.h>
#include <spdlog/common.h>
#include <spdlog/details/log_msg.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace celeriac::worker::app {
namespace {

bool isWordChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// "YYYY-MM-DDTHH:MM:SS" of a second since the epoch, UTC.
std::string utcSecond(std::chrono::seconds since_epoch) {
  const auto t = static_cast<std::time_t>(since_epoch.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32] = {};
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::optional<std::string_view> logField(std::string_view message, std::string_view name) {
  std::size_t pos = 0;
  while ((pos = message.find(name, pos)) != std::string_view::npos) {
    const std::size_t eq = pos + name.size();
    const bool word_start = pos == 0 || !isWordChar(message[pos - 1]);
    if (word_start && eq < message.size() && message[eq] == '=') {
      const std::size_t begin = eq + 1;
      std::string_view value;
      if (begin < message.size() && message[begin] == '"') {
        const std::size_t close = message.find('"', begin + 1);
        if (close != std::string_view::npos) value = message.substr(begin + 1, close - begin - 1);
      } else {
        std::size_t end = begin;
        while (end < message.size() && !isBlank(message[end])) ++end;
        value = message.substr(begin, end - begin);
        // "rejected task_id=<id>: reason", "task_id=<id>, ..."
        if (!value.empty() &&
            std::string_view(":,;)").find(value.back()) != std::string_view::npos) {
          value.remove_suffix(1);
        }
      }
      if (!value.empty()) return value;
    }
    pos = eq;
  }
  return std::nullopt;
}

std::string isoUtcMillis(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch());
  const auto s = std::chrono::floor<std::chrono::seconds>(ms);
  return fmt::format("{}.{:03}Z", utcSecond(s), (ms - s).count());
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(msg.time.time_since_epoch());
  const auto s = std::chrono::floor<std::chrono::seconds>(ms);
  if (s != cached_second_) {
    cached_second_ = s;
    cached_prefix_ = utcSecond(s);
  }
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  const auto level = spdlog::level::to_string_view(msg.level);

  // ordered_json keeps the fields in this order, which is the order people read them.
  nlohmann::ordered_json line;
  line["time"] = fmt::format("{}.{:03}Z", cached_prefix_, (ms - s).count());
  line["level"] = std::string(level.data(), level.size());
  line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
  line["message"] = std::string(payload);
  if (auto id = logField(payload, "task_id")) line["task_id"] = std::string(*id);
  if (auto id = logField(payload, "root_id")) line["root_id"] = std::string(*id);
  // `replace`: a message with invalid UTF-8 (a provider's body, a task's argument)
  // becomes U+FFFD instead of throwing out of the logger.
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

}  // namespace celeriac::worker::app
