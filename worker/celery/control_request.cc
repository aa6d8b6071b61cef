#include "worker/celery/control_request.h"

#include <fnmatch.h>

#include <algorithm>
#include <regex>
#include <utility>

#include "worker/celery/python_json.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

Error failure(std::string error) { return Error{std::move(error)}; }

// A field that kombu reads as "string or None".
bool readOptionalString(const json& body, const char* key, std::string& out) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool globMatch(const std::string& pattern, const std::string& name) {
  // Python's fnmatch has no escape character and lets * match '/' and a leading '.',
  // which is fnmatch(3) with FNM_NOESCAPE and no FNM_PATHNAME / FNM_PERIOD.
  return ::fnmatch(pattern.c_str(), name.c_str(), FNM_NOESCAPE) == 0;
}

// std::regex compiles recursively: a huge nested pattern from the network could
// exhaust the stack. No real node pattern comes near this.
constexpr std::size_t kMaxPcrePatternBytes = 1024;

bool pcreMatch(const std::string& pattern, const std::string& name) {
  if (pattern.size() > kMaxPcrePatternBytes) return false;
  try {
    const std::regex expression(pattern, std::regex::ECMAScript);
    // re.match: anchored at the start, not at the end.
    return std::regex_search(name, expression, std::regex_constants::match_continuous);
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

Result<ControlRequest> parseControlRequestJson(const json& body) {
  if (!body.is_object()) return failure("control request body is not a JSON object");
  ControlRequest request;

  const auto method = body.find("method");
  if (method == body.end() || !method->is_string()) {
    return failure("control request has no string 'method'");
  }
  request.method = method->get<std::string>();

  // kombu: `arguments = arguments or {}`, then handler(state, **arguments).
  const auto arguments = body.find("arguments");
  if (arguments != body.end() && !arguments->is_null()) {
    if (!arguments->is_object()) return failure("control request 'arguments' is not an object");
    request.arguments = *arguments;
  }

  const auto destination = body.find("destination");
  if (destination != body.end() && !destination->is_null()) {
    std::vector<std::string> names;
    if (destination->is_string()) {
      // Celery's client only sends lists; a lone name is taken as a list of one.
      names.push_back(destination->get<std::string>());
    } else if (destination->is_array()) {
      for (const json& name : *destination) {
        if (!name.is_string()) return failure("control request 'destination' holds a non-string");
        names.push_back(name.get<std::string>());
      }
    } else {
      return failure("control request 'destination' is not a list");
    }
    if (!names.empty()) request.destination = std::move(names);
  }

  if (!readOptionalString(body, "pattern", request.pattern)) {
    return failure("control request 'pattern' is not a string");
  }
  if (!readOptionalString(body, "matcher", request.matcher)) {
    return failure("control request 'matcher' is not a string");
  }
  if (!readOptionalString(body, "ticket", request.ticket)) {
    return failure("control request 'ticket' is not a string");
  }

  const auto reply_to = body.find("reply_to");
  if (reply_to != body.end() && reply_to->is_object()) {
    const auto exchange = reply_to->find("exchange");
    const auto routing_key = reply_to->find("routing_key");
    if (exchange != reply_to->end() && exchange->is_string() && routing_key != reply_to->end() &&
        routing_key->is_string()) {
      request.reply_exchange = exchange->get<std::string>();
      request.reply_routing_key = routing_key->get<std::string>();
      request.has_reply_to = true;
    }
  }

  return request;
}

Result<ControlRequest> parseControlRequest(std::string_view body_text) {
  Result<nlohmann::json> parsed = parsePythonJson(body_text);
  if (!parsed) return failure("control request is not JSON: " + parsed.error().message);
  return parseControlRequestJson(*parsed);
}

bool addressedTo(const ControlRequest& request, std::string_view nodename) {
  if (request.destination) {
    const auto& names = *request.destination;
    return std::find(names.begin(), names.end(), nodename) != names.end();
  }
  if (!request.pattern.empty() && !request.matcher.empty()) {
    const std::string name(nodename);
    if (request.matcher == "glob") return globMatch(request.pattern, name);
    if (request.matcher == "pcre") return pcreMatch(request.pattern, name);
    return false;  // kombu: MatcherNotInstalled, nobody handles it
  }
  return true;
}

json controlReply(std::string_view nodename, json value) {
  json reply = json::object();
  reply[std::string(nodename)] = std::move(value);
  return reply;
}

json controlOk(std::string_view text) { return json{{"ok", std::string(text)}}; }

json controlError(std::string_view text) { return json{{"error", std::string(text)}}; }

json unknownCommandReply(std::string_view method) {
  return controlError(pythonExceptionRepr("KeyError", json::array({std::string(method)})));
}

}  // namespace celeriac::worker::celery
