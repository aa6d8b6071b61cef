#pragma once
// ControlRequest: one remote-control (pidbox) request, parsed, plus the rules for
// whether this node handles it and the shapes of its reply.
//
// What for: `celery inspect ...`, `celery control ...`, `celery status` and Flower
// publish JSON requests to the fanout exchange `celery.pidbox`; every worker
// gets each one and decides by destination / pattern whether it is addressed. The app
// parses with parseControlRequest(), checks addressedTo(), runs the command and, when
// wantsReply(), publishes controlReply() to reply_exchange / reply_routing_key with
// headers {"ticket": ticket, "clock": clock.forward()}.
// Behaviour follows kombu 5.2 (kombu/pidbox.py Node.handle_message / dispatch) and
// celery 5.2 (celery/worker/control.py):
//  * a reply goes out iff the request has a `reply_to` mapping: the ticket is only
//    echoed (kombu sends the reply even with no ticket, header `ticket: null`);
//  * an unknown method gets the reply {"error": "KeyError('<method>')"} (the handler
//    lookup raises KeyError inside dispatch, which replies repr(exc));
//  * a command that raises replies {"error": repr(exc)}; `shutdown` never replies.
// What not: no command implementations, no AMQP. Pure functions and a value type.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace celeriac::worker::celery {

struct ControlRequest {
  std::string method;                                   // e.g. "ping", "revoke"
  nlohmann::json arguments = nlohmann::json::object();  // always an object (null -> {})
  // Nodenames the request is for; nullopt when null, absent or empty (kombu treats an
  // empty list as "no destination").
  std::optional<std::vector<std::string>> destination;
  std::string pattern;            // node selection when there is no destination; empty: none
  std::string matcher;            // "glob" or "pcre"; empty: none
  std::string ticket;             // echoed in the reply's `ticket` header; empty when absent
  std::string reply_exchange;     // reply_to.exchange ("reply.celery.pidbox")
  std::string reply_routing_key;  // reply_to.routing_key (the client's oid)
  bool has_reply_to = false;      // the request carried a usable reply_to mapping

  // A reply is published iff the request had reply_to (kombu: `if reply_to:`). Casts
  // (control.broadcast(..., reply=False)) have none.
  [[nodiscard]] bool wantsReply() const { return has_reply_to; }
};

// Never throws. Fails for a body that is not an object, has no string `method`, has
// non-object `arguments`, or a destination / pattern / matcher of the wrong type (kombu
// would raise in the handler and send nothing, so the app should drop and log these).
// `reply_to` that is not an object with string `exchange` and `routing_key` counts as
// absent (kombu would run the command and fail to reply).
// (Named apart from the text overload: a std::string converts to both json and
// string_view, so one overloaded name would be ambiguous for the common call.)
Result<ControlRequest> parseControlRequestJson(const nlohmann::json& body);

// The same from the message body text (Python's JSON, see python_json.h).
Result<ControlRequest> parseControlRequest(std::string_view body_text);

// kombu's node selection: with a destination, handle iff `nodename` is listed; else
// with both pattern and matcher, "glob" is fnmatch over the whole name (Python's
// fnmatch: no backslash escapes) and "pcre" is Python's re.match (anchored at the
// start only; evaluated with std::regex ECMAScript, close to Python's re for the
// patterns people write); an unknown matcher, a pattern that does not compile or a pcre
// pattern over 1 KiB means "not addressed" (kombu raises and handles nothing); else
// everyone handles it.
[[nodiscard]] bool addressedTo(const ControlRequest& request, std::string_view nodename);

// The reply body: {"<nodename>": value}. `value` may be null (e.g. `heartbeat`).
nlohmann::json controlReply(std::string_view nodename, nlohmann::json value);

// {"ok": text} and {"error": text}, Celery's ok()/nok() (celery/worker/control.py).
nlohmann::json controlOk(std::string_view text);
nlohmann::json controlError(std::string_view text);

// What a Python worker replies for a method it does not know: {"error": "KeyError('m')"}
// (repr of the KeyError, with Python's quoting of the name).
nlohmann::json unknownCommandReply(std::string_view method);

}  // namespace celeriac::worker::celery
