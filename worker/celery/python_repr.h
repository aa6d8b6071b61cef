#pragma once
// Python's repr() of JSON values, as Celery puts it into headers and messages.
//
// What for: `argsrepr`/`kwargsrepr` headers of published messages, and the
// texts Celery builds with repr(): the MaxRetriesExceededError message ("args:(1,)
// kwargs:{}") and the "Retry in 5s: KeyError('k0')" line of a RETRY traceback.
// What not: not a Python literal parser, and not exact for every value: finite floats
// print as nlohmann writes them (rarely unlike Python's shortest repr), and dict keys
// come out in nlohmann's sorted order, not the sender's insertion order.
// Ownership: pure functions.

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

// Celery's argsrepr_maxsize / kwargsrepr_maxsize.
inline constexpr std::size_t kMaxReprBytes = 1024;

// repr(value): None/True/False, 'strings' (double quotes only when the text has a ' and
// no "), [lists], {'dicts': ...}. Longer than `max_bytes`: cut there without splitting a
// UTF-8 sequence and "..." appended, so a header stays valid UTF-8.
std::string pythonRepr(const nlohmann::json& value, std::size_t max_bytes = kMaxReprBytes);

// repr(tuple(items)) for a JSON array: "()", "(1,)", "(1, 'a')"; same cut as above.
std::string pythonTupleRepr(const nlohmann::json& items, std::size_t max_bytes = kMaxReprBytes);

// repr() of an exception as BaseException.__repr__ writes it: "KeyError('k0')",
// "ValueError()", "MyError('boom', 42)". `args` is the exception's args array (a
// non-array is treated as its single argument).
std::string pythonExceptionRepr(std::string_view type, const nlohmann::json& args);

}  // namespace celeriac::worker::celery
