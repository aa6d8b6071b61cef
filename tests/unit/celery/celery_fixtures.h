#pragma once
// Test helpers: load the captures from real Celery 5.2.6 kept in
// schemas/fixtures/celery (see make_compressed_fixtures.py there for the binary ones).
// CELERIAC_CELERY_FIXTURES_DIR is the absolute source path, set by CMakeLists.txt.

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/celery/raw_message.h"

namespace celeriac::worker::celery::testing {

inline std::string fixturePath(const std::string& name) {
  return std::string(CELERIAC_CELERY_FIXTURES_DIR) + "/" + name;
}

inline std::string readFixture(const std::string& name) {
  std::ifstream in(fixturePath(name), std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// q3.json is a sequence of JSON objects (one per basic_get), not one array.
inline std::vector<nlohmann::json> loadQ3Captures() {
  std::istringstream in(readFixture("q3.json"));
  std::vector<nlohmann::json> captures;
  while ((in >> std::ws).peek() != std::char_traits<char>::eof()) {
    nlohmann::json capture;
    in >> capture;
    captures.push_back(std::move(capture));
  }
  return captures;
}

// The capture as the AMQP layer would hand it over.
inline RawMessage rawFromCapture(const nlohmann::json& capture) {
  const nlohmann::json& properties = capture.at("properties");
  const nlohmann::json& delivery = capture.at("delivery_info");
  RawMessage raw;
  raw.content_type = properties.value("content_type", "");
  raw.content_encoding = properties.value("content_encoding", "");
  raw.headers = properties.value("application_headers", nlohmann::json::object());
  raw.correlation_id = properties.value("correlation_id", "");
  raw.reply_to = properties.value("reply_to", "");
  if (properties.contains("priority")) {
    raw.priority = properties.at("priority").get<std::uint8_t>();
  }
  raw.exchange = delivery.value("exchange", "");
  raw.routing_key = delivery.value("routing_key", "");
  raw.redelivered = delivery.value("redelivered", false);
  raw.body = capture.at("body").get<std::string>();
  return raw;
}

// rs1.jsonl: one {"t", "channel", "data"} per PUBLISH; `data` is the document text.
inline std::vector<std::string> loadRs1Documents() {
  std::istringstream in(readFixture("rs1.jsonl"));
  std::vector<std::string> documents;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    documents.push_back(nlohmann::json::parse(line).at("data").get<std::string>());
  }
  return documents;
}

}  // namespace celeriac::worker::celery::testing
