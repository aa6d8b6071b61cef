#include "worker/app/log_setup.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>

#include <algorithm>
#include <utility>

#include "worker/app/json_log_formatter.h"

namespace celeriac::worker::app {

RedactingSink::RedactingSink(spdlog::sink_ptr out, const LogRedactor& redactor)
    : out_(std::move(out)), redactor_(redactor) {}

void RedactingSink::log(const spdlog::details::log_msg& msg) {
  auto masked = redactor_.redactIfNeeded(std::string_view(msg.payload.data(), msg.payload.size()));
  if (!masked) {
    out_->log(msg);
    return;
  }
  spdlog::details::log_msg copy(msg);
  copy.payload = spdlog::string_view_t(masked->data(), masked->size());
  out_->log(copy);
}

void RedactingSink::flush() { out_->flush(); }

void RedactingSink::set_pattern(const std::string& /*pattern*/) {}

void RedactingSink::set_formatter(std::unique_ptr<spdlog::formatter> /*sink_formatter*/) {}

std::unique_ptr<spdlog::formatter> makeLogFormatter(std::string_view log_format) {
  if (log_format == "json") return std::make_unique<JsonLogFormatter>();
  return std::make_unique<spdlog::pattern_formatter>(std::string(kTextLogPattern));
}

spdlog::sink_ptr makeWorkerLogSink(spdlog::sink_ptr out, std::string_view log_format,
                                   const LogRedactor& redactor) {
  out->set_formatter(makeLogFormatter(log_format));
  return std::make_shared<RedactingSink>(std::move(out), redactor);
}

bool isSecretEnvName(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  });
  const std::string_view n(upper);
  const auto has = [n](std::string_view part) { return n.find(part) != std::string_view::npos; };
  return n.ends_with("KEY") || n.ends_with("KEYS") || has("API_KEY") || n.ends_with("_TOKEN") ||
         n == "TOKEN" || has("SECRET") || has("PASSWORD") || has("PASSWD");
}

void registerWorkerSecrets(const WorkerConfig& config, LogRedactor& redactor) {
  for (const amqp::BrokerUrl& broker : config.brokers) redactor.addSecret(broker.password);
  redactor.addSecret(config.backend.password);
  for (const auto& [name, value] : config.env) {
    if (!isSecretEnvName(name)) continue;
    std::size_t begin = 0;
    while (begin <= value.size()) {
      std::size_t end = value.find(',', begin);
      if (end == std::string::npos) end = value.size();
      std::string_view item = std::string_view(value).substr(begin, end - begin);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      // A path (…_KEY_FILE=/run/secrets/x) or a number is not the secret itself, and
      // masking it would garble ordinary lines.
      const bool number = item.find_first_not_of("0123456789.") == std::string_view::npos;
      if (!item.empty() && item.front() != '/' && !number) redactor.addSecret(std::string(item));
      begin = end + 1;
    }
  }
}

}  // namespace celeriac::worker::app
