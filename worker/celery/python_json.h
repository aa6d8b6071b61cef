#pragma once
// parsePythonJson(): parse JSON text as Python's json module writes it.
//
// What for: task bodies come from Python's json.dumps, which writes the bare tokens
// NaN, Infinity and -Infinity for non-finite floats (spec 1.7). nlohmann::json rejects
// them, so this wraps the parse: strict JSON first (the fast path), and only when that
// fails and such tokens appear outside strings, a second parse with the tokens replaced
// by unique string markers that are then swapped for the double values.
// What not: no other extensions (no comments, no single quotes, no trailing commas,
// Python's json module does not write them). Invalid UTF-8 is rejected, as Python does.
// Ownership: pure function; the returned value owns its data.
//
// Note: nlohmann::json holds NaN/inf as doubles but dump() writes them as null.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

struct PythonJsonResult {
  std::optional<nlohmann::json> value;  // set on success
  std::string error;                    // why the text is not JSON, when value is empty
};

PythonJsonResult parsePythonJson(std::string_view text);

}  // namespace celeriac::worker::celery
