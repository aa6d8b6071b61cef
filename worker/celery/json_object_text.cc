#include "worker/celery/json_object_text.h"

#include <charconv>
#include <cmath>

namespace celeriac::worker::celery {
namespace {

// Bytes that can be written between quotes as they are: printable ASCII except the
// two JSON escapes. Anything else (control bytes, non-ASCII, possibly invalid UTF-8)
// goes through nlohmann, which escapes and replaces exactly as dump() does.
bool isPlainAscii(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

template <typename Integer>
void appendInteger(std::string& out, Integer value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  if (isPlainAscii(text)) {
    out += '"';
    out += text;
    out += '"';
    return;
  }
  out += nlohmann::json(std::string(text))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void appendJsonDouble(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[32];
  // Shortest text that reads back as the same double, as nlohmann's dump() writes.
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  out += text;
  // A whole double stays a float for the reader ("2.0", not the int 2).
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

JsonObjectText::JsonObjectText(std::string& out) : out_(out) { out_ += '{'; }

void JsonObjectText::key(std::string_view key) {
  if (!first_) out_ += ',';
  first_ = false;
  appendJsonString(out_, key);
  out_ += ':';
}

JsonObjectText& JsonObjectText::string(std::string_view key, std::string_view value) {
  this->key(key);
  appendJsonString(out_, value);
  return *this;
}

JsonObjectText& JsonObjectText::integer(std::string_view key, std::int64_t value) {
  this->key(key);
  appendInteger(out_, value);
  return *this;
}

JsonObjectText& JsonObjectText::unsignedInteger(std::string_view key, std::uint64_t value) {
  this->key(key);
  appendInteger(out_, value);
  return *this;
}

JsonObjectText& JsonObjectText::number(std::string_view key, double value) {
  this->key(key);
  appendJsonDouble(out_, value);
  return *this;
}

JsonObjectText& JsonObjectText::boolean(std::string_view key, bool value) {
  this->key(key);
  out_ += value ? "true" : "false";
  return *this;
}

JsonObjectText& JsonObjectText::null(std::string_view key) {
  this->key(key);
  out_ += "null";
  return *this;
}

JsonObjectText& JsonObjectText::value(std::string_view key, const nlohmann::json& value) {
  this->key(key);
  out_ += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return *this;
}

void JsonObjectText::close() { out_ += '}'; }

}  // namespace celeriac::worker::celery
