#pragma once
// JsonObjectText: writes one JSON object as text, field by field, straight into a
// string, without building a tree first.
//
// What for: a worker with events on builds three event bodies per task (received,
// started, succeeded). Building each as an nlohmann tree and dumping it cost more CPU
// than the rest of the events path together (a map node and a key copy per field); the
// drain rate with -E must stay within 10 % of the rate without. event_body.cc writes
// its bodies with this.
// What not: no nesting beyond `value()` (any nlohmann value, dumped), no pretty
// printing, no duplicate-key check: the callers write fixed field lists.
// Output is what nlohmann::json::dump() gives for the same object (compact, UTF-8 kept
// as it is, invalid UTF-8 replaced by U+FFFD, NaN and infinities as null, a whole
// double as "2.0"), except that fields keep the order they were written in; JSON
// receivers (Python dicts) do not care about order.
// Ownership: borrows `out` for its lifetime; appends only.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

class JsonObjectText {
 public:
  explicit JsonObjectText(std::string& out);  // appends "{"
  JsonObjectText(const JsonObjectText&) = delete;
  JsonObjectText& operator=(const JsonObjectText&) = delete;

  JsonObjectText& string(std::string_view key, std::string_view value);
  JsonObjectText& integer(std::string_view key, std::int64_t value);
  JsonObjectText& unsignedInteger(std::string_view key, std::uint64_t value);
  JsonObjectText& number(std::string_view key, double value);
  JsonObjectText& boolean(std::string_view key, bool value);
  JsonObjectText& null(std::string_view key);
  // Any JSON value, dumped by nlohmann (for the rare nested or free-form field).
  JsonObjectText& value(std::string_view key, const nlohmann::json& value);

  // Appends "}". Call once, last.
  void close();

 private:
  void key(std::string_view key);

  std::string& out_;
  bool first_ = true;
};

// Appends `text` as a JSON string literal (quotes included), as nlohmann would dump it.
void appendJsonString(std::string& out, std::string_view text);

// Appends `value` as nlohmann would dump a JSON number float.
void appendJsonDouble(std::string& out, double value);

}  // namespace celeriac::worker::celery
