#include "worker/celery/python_repr.h"

#include <cmath>
#include <cstdio>

#include "worker/celery/python_json.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

void appendPythonString(const std::string& text, std::string& out) {
  // Python's repr picks double quotes only when the text has a ' and no ".
  const bool double_quoted =
      text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = double_quoted ? '"' : '\'';
  out += quote;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\\' || c == quote) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(byte));
      out += escaped;
    } else {
      out += c;
    }
  }
  out += quote;
}

// Appends a Python-like repr of `value`; stops early once `out` is past `cap` (the
// caller truncates), which also bounds the recursion on deeply nested input.
void appendPythonRepr(const json& value, std::string& out, std::size_t cap) {
  if (out.size() > cap) return;
  switch (value.type()) {
    case json::value_t::null:
      out += "None";
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "True" : "False";
      return;
    case json::value_t::string:
      appendPythonString(value.get_ref<const std::string&>(), out);
      return;
    case json::value_t::number_float: {
      const double number = value.get<double>();
      if (std::isnan(number)) {
        out += "nan";
      } else if (std::isinf(number)) {
        out += number > 0 ? "inf" : "-inf";
      } else {
        out += value.dump();
      }
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& item : value) {
        if (!first) out += ", ";
        first = false;
        appendPythonRepr(item, out, cap);
        if (out.size() > cap) return;
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out += ", ";
        first = false;
        appendPythonString(key, out);
        out += ": ";
        appendPythonRepr(item, out, cap);
        if (out.size() > cap) return;
      }
      out += '}';
      return;
    }
    case json::value_t::binary:  // a big integer (python_json.h): its digits
      out += bigIntegerDigits(value);
      return;
    default:  // integers
      out += value.dump();
      return;
  }
}

// The items of an array, comma separated, without brackets.
void appendItems(const json& items, std::string& out, std::size_t cap) {
  bool first = true;
  for (const json& item : items) {
    if (!first) out += ", ";
    first = false;
    appendPythonRepr(item, out, cap);
    if (out.size() > cap) return;
  }
}

// Cut at `cap` without splitting a UTF-8 sequence, so the text stays valid UTF-8 (AMQP
// long strings are bytes, but Python decodes them).
std::string truncated(std::string out, std::size_t cap) {
  if (out.size() <= cap) return out;
  std::size_t cut = cap;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0u) == 0x80u) --cut;
  out.resize(cut);
  out += "...";
  return out;
}

}  // namespace

std::string pythonRepr(const json& value, std::size_t max_bytes) {
  std::string out;
  appendPythonRepr(value, out, max_bytes);
  return truncated(std::move(out), max_bytes);
}

std::string pythonTupleRepr(const json& items, std::size_t max_bytes) {
  if (!items.is_array()) {
    // Appended, not `"(" + ... + ",)"`: GCC 12 -O3 reports a false -Werror=restrict on
    // that operator+ chain (the Release build stopped here).
    std::string out = "(";
    out += pythonRepr(items, max_bytes);
    out += ",)";
    return truncated(std::move(out), max_bytes);
  }
  std::string out = "(";
  appendItems(items, out, max_bytes);
  if (items.size() == 1) out += ',';  // Python's one-element tuple: (1,)
  out += ')';
  return truncated(std::move(out), max_bytes);
}

std::string pythonExceptionRepr(std::string_view type, const json& args) {
  std::string out(type);
  out += '(';
  if (args.is_array()) {
    appendItems(args, out, kMaxReprBytes);
  } else {
    appendPythonRepr(args, out, kMaxReprBytes);
  }
  out += ')';
  return truncated(std::move(out), kMaxReprBytes + type.size() + 2);
}

}  // namespace celeriac::worker::celery
