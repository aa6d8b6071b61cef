#pragma once
// parsePythonJson() / dumpPythonJson(): JSON text as Python's json module reads and
// writes it.
//
// What for: task bodies come from Python's json.dumps and results go back to
// json.loads. Python differs from strict JSON in three ways that a client can hit with
// one ordinary call (`send_task("celeriac.echo", args=[10**400])` used to abort the
// worker on nlohmann's "number overflow parsing"):
//  * NaN, Infinity and -Infinity are written as bare tokens (allow_nan=True);
//  * integers have no size limit (10**400 round-trips exactly);
//  * a float literal too large for a double (1e999) reads as inf, not as an error.
// parsePythonJson keeps all three: non-finite tokens and overflowing float literals
// become double NaN/±inf; an integer that does not fit 64 bits becomes a *big integer*
// value (see isBigInteger) that keeps its exact digits. dumpPythonJson writes them
// back as Python would (NaN, Infinity, the digits), where nlohmann's own dump() would
// write null or a rounded double.
// What not: no other extensions (no comments, no single quotes, no trailing commas,
// Python's json module does not write them). Invalid UTF-8 is rejected, as Python
// does. Nesting deeper than kMaxJsonDepth is rejected (Python's json.loads raises
// RecursionError around 1,000 levels; every recursive walk here stays bounded).
// Ownership: pure functions; returned values own their data.

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace celeriac::worker::celery {

inline constexpr std::size_t kMaxJsonDepth = 512;

// The value, or why the text is not JSON. Never throws.
Result<nlohmann::json> parsePythonJson(std::string_view text);

// A big integer is held as a json binary value (which JSON text can never produce, so
// it cannot collide with anything a client sends) whose bytes are the decimal digits.
[[nodiscard]] bool isBigInteger(const nlohmann::json& value);
[[nodiscard]] nlohmann::json makeBigInteger(std::string_view digits);
[[nodiscard]] std::string bigIntegerDigits(const nlohmann::json& value);

// Compact JSON (", " and ": " separators aside, as nlohmann writes it) that Python's
// json.loads reads back to the same value: NaN/Infinity tokens, big integers as their
// digits, invalid UTF-8 replaced. Never throws.
std::string dumpPythonJson(const nlohmann::json& value);
std::string dumpPythonJson(const nlohmann::ordered_json& value);

}  // namespace celeriac::worker::celery
