#include "worker/celery/canvas.h"

#include <cmath>
#include <utility>

#include "worker/celery/iso_time.h"
#include "worker/celery/python_json.h"
#include "worker/celery/python_repr.h"
#include "worker/celery/result_document.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

// Beyond this a countdown/expires is certainly a mistake, and the time point arithmetic
// would overflow (about 317 years).
constexpr double kMaxOffsetSeconds = 1e10;

// ---- option readers --------------------------------------------------------------------
// Each returns an Error when the key is present, not null, and of the wrong type; absent
// and null leave `out` untouched.

const json* present(const json& options, const char* key) {
  const auto it = options.find(key);
  if (it == options.end() || it->is_null()) return nullptr;
  return &*it;
}

common::Result<void> readString(const json& options, const char* key,
                                std::optional<std::string>& out) {
  const json* value = present(options, key);
  if (value == nullptr) return {};
  if (!value->is_string()) {
    return common::Error{std::string("options.") + key + " is not a string"};
  }
  out = value->get<std::string>();
  return {};
}

common::Result<void> readSeconds(const json& options, const char* key, std::optional<double>& out) {
  const json* value = present(options, key);
  if (value == nullptr) return {};
  if (!value->is_number() || !std::isfinite(value->get<double>()) ||
      std::fabs(value->get<double>()) > kMaxOffsetSeconds) {
    return common::Error{std::string("options.") + key + " is not a number of seconds"};
  }
  out = value->get<double>();
  return {};
}

// A number (seconds) or null, copied as JSON so an integer stays an integer on the wire.
common::Result<void> readLimit(const json& options, const char* key, json& out) {
  const json* value = present(options, key);
  if (value == nullptr) return {};
  if (!value->is_number()) {
    return common::Error{std::string("options.") + key + " is not a number"};
  }
  out = *value;
  return {};
}

// options.link / options.link_error: one signature dict or a list of them (Python's
// maybe_list()), as embed.callbacks / embed.errbacks.
common::Result<void> readSignatureList(const json& options, const char* key, json& out) {
  const json* value = present(options, key);
  if (value == nullptr) return {};
  if (value->is_object()) {
    out = json::array({*value});
    return {};
  }
  if (!value->is_array()) {
    return common::Error{std::string("options.") + key +
                         " is not a signature or a list of signatures"};
  }
  out = *value;
  return {};
}

std::chrono::system_clock::time_point offsetFrom(std::chrono::system_clock::time_point now,
                                                 double seconds) {
  return now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                   std::chrono::duration<double>(seconds));
}

// An ISO string option re-emitted in our canonical form (UTC, 6 fraction digits).
common::Result<void> readIsoTime(const json& options, const char* key, json& out) {
  const json* value = present(options, key);
  if (value == nullptr) return {};
  const auto parsed =
      value->is_string() ? parseIsoTime(value->get_ref<const std::string&>()) : std::nullopt;
  if (!parsed) {
    return common::Error{std::string("options.") + key + " is not an ISO-8601 time"};
  }
  out = formatIsoTime(*parsed);
  return {};
}

common::Result<std::string> freshId(const CanvasContext& ctx) {
  if (!ctx.new_id) {
    return common::Error{"no id generator in the canvas context"};
  }
  std::string id = ctx.new_id();
  if (id.empty()) {
    return common::Error{"the id generator returned an empty id"};
  }
  return id;
}

// The pieces of a signature dict (task, args, kwargs, options, immutable), validated.
struct Signature {
  std::string task;
  json args;
  json kwargs;
  json options;
  bool immutable = false;
};

common::Result<Signature> readSignature(const json& signature) {
  if (!signature.is_object()) {
    return common::Error{"signature is not a JSON object"};
  }
  Signature sig;
  const json* task = present(signature, "task");
  if (task == nullptr || !task->is_string() || task->get_ref<const std::string&>().empty()) {
    return common::Error{"signature has no task name"};
  }
  sig.task = task->get<std::string>();
  if (const json* type = present(signature, "subtask_type")) {
    // Nested canvas objects keep their payload in kwargs and need expanding first:
    // canvas_expand.cc does that and hands only plain task signatures here.
    return common::Error{"signature " + sig.task + ": nested canvas type " + type->dump() +
                         " is not supported"};
  }
  const json* args = present(signature, "args");
  if (args != nullptr && !args->is_array()) {
    return common::Error{"signature " + sig.task + ": args is not a list"};
  }
  sig.args = args != nullptr ? *args : json::array();
  const json* kwargs = present(signature, "kwargs");
  if (kwargs != nullptr && !kwargs->is_object()) {
    return common::Error{"signature " + sig.task + ": kwargs is not a mapping"};
  }
  sig.kwargs = kwargs != nullptr ? *kwargs : json::object();
  const json* options = present(signature, "options");
  if (options != nullptr && !options->is_object()) {
    return common::Error{"signature " + sig.task + ": options is not a mapping"};
  }
  sig.options = options != nullptr ? *options : json::object();
  if (const json* immutable = present(signature, "immutable")) {
    if (!immutable->is_boolean()) {
      return common::Error{"signature " + sig.task + ": immutable is not a boolean"};
    }
    sig.immutable = immutable->get<bool>();
  }
  return sig;
}

// Builds the message once the signature is known good; the Error explains a bad option.
common::Result<OutboundMessage> buildMessage(const Signature& sig, const json& args_prefix,
                                             const std::string& parent_id,
                                             const std::string& root_id, const json& chain_rest,
                                             const CanvasContext& ctx) {
  const json& options = sig.options;
  std::optional<std::string> task_id;
  std::optional<std::string> queue;
  std::optional<std::string> exchange;
  std::optional<std::string> routing_key;
  std::optional<std::string> reply_to;
  std::optional<std::string> group_id;
  std::optional<std::string> shadow;
  std::optional<std::string> argsrepr;
  std::optional<std::string> kwargsrepr;
  std::optional<double> countdown_s;
  std::optional<double> expires_s;
  json time_limit = nullptr;
  json soft_time_limit = nullptr;
  json eta = nullptr;
  json expires = nullptr;
  json callbacks = nullptr;
  json errbacks = nullptr;
  // Read in this order; the first bad option is the one reported.
  for (const common::Result<void>& read :
       {readString(options, "task_id", task_id), readString(options, "queue", queue),
        readString(options, "exchange", exchange), readString(options, "routing_key", routing_key),
        readString(options, "reply_to", reply_to), readString(options, "group_id", group_id),
        readString(options, "shadow", shadow), readString(options, "argsrepr", argsrepr),
        readString(options, "kwargsrepr", kwargsrepr),
        readSeconds(options, "countdown", countdown_s),
        readLimit(options, "time_limit", time_limit),
        readLimit(options, "soft_time_limit", soft_time_limit),
        readSignatureList(options, "link", callbacks),
        readSignatureList(options, "link_error", errbacks)}) {
    if (!read) return read.error();
  }
  // Python: a truthy countdown replaces any eta (amqp.as_task_v2).
  if (countdown_s && *countdown_s != 0.0) {
    eta = formatIsoTime(offsetFrom(ctx.now, *countdown_s));
  } else if (auto read = readIsoTime(options, "eta", eta); !read) {
    return read.error();
  }
  if (const json* value = present(options, "expires"); value != nullptr && value->is_number()) {
    if (auto read = readSeconds(options, "expires", expires_s); !read) return read.error();
    expires = formatIsoTime(offsetFrom(ctx.now, *expires_s));
  } else if (auto read = readIsoTime(options, "expires", expires); !read) {
    return read.error();
  }
  json group_index = nullptr;
  if (const json* value = present(options, "group_index")) {
    if (!value->is_number_integer()) {
      return common::Error{"options.group_index is not an integer"};
    }
    group_index = *value;
  }
  std::optional<std::uint8_t> priority;
  if (const json* value = present(options, "priority")) {
    if (!value->is_number_integer() || value->get<std::int64_t>() < 0 ||
        value->get<std::int64_t>() > 255) {
      return common::Error{"options.priority is not an integer in 0..255"};
    }
    priority = static_cast<std::uint8_t>(value->get<std::int64_t>());
  }
  bool ignore_result = false;
  if (const json* value = present(options, "ignore_result")) {
    if (!value->is_boolean()) {
      return common::Error{"options.ignore_result is not a boolean"};
    }
    ignore_result = value->get<bool>();
  }
  const json* chord = present(options, "chord");
  if (chord != nullptr && !chord->is_object()) {
    return common::Error{"options.chord is not a signature"};
  }
  const json* custom_headers = present(options, "headers");
  if (custom_headers != nullptr && !custom_headers->is_object()) {
    return common::Error{"options.headers is not a mapping"};
  }
  if (!task_id || task_id->empty()) {
    auto fresh = freshId(ctx);
    if (!fresh) return fresh.error();
    task_id = std::move(fresh).value();
  }

  json args = sig.args;
  if (!sig.immutable) {
    args = args_prefix;
    for (const json& item : sig.args) args.push_back(item);
  }

  OutboundMessage message;
  message.task_id = *task_id;
  message.correlation_id = *task_id;
  message.reply_to = reply_to.value_or("");
  message.priority = priority;

  json& headers = message.headers;
  headers["lang"] = "py";
  headers["task"] = sig.task;
  headers["id"] = *task_id;
  headers["shadow"] = shadow ? json(*shadow) : json(nullptr);
  headers["eta"] = eta;
  headers["expires"] = expires;
  headers["group"] = group_id ? json(*group_id) : json(nullptr);
  headers["group_index"] = group_index;
  headers["retries"] = 0;
  headers["timelimit"] = json::array({time_limit, soft_time_limit});  // [hard, soft]
  headers["root_id"] = root_id.empty() ? *task_id : root_id;
  headers["parent_id"] = parent_id.empty() ? json(nullptr) : json(parent_id);
  headers["argsrepr"] = argsrepr ? *argsrepr : pythonRepr(args);
  headers["kwargsrepr"] = kwargsrepr ? *kwargsrepr : pythonRepr(sig.kwargs);
  headers["origin"] = ctx.origin;
  headers["ignore_result"] = ignore_result;
  if (custom_headers != nullptr) {
    for (const auto& [key, value] : custom_headers->items()) {
      if (!headers.contains(key)) headers[key] = value;
    }
  }

  // Always three elements and all four embed keys: a Python worker that gets a
  // two-element body dies ("not enough values to unpack").
  json embed = json::object();
  embed["callbacks"] = callbacks;
  embed["errbacks"] = errbacks;
  embed["chain"] = chain_rest;
  embed["chord"] = chord != nullptr ? *chord : json(nullptr);
  message.body = dumpPythonJson(json::array({std::move(args), sig.kwargs, std::move(embed)}));

  // Celery's queues hang off direct exchanges of the same name, so Python publishes to
  // the default exchange with the queue as routing key; an explicit exchange is only
  // used with an explicit routing key too.
  if (exchange && !exchange->empty() && routing_key && !routing_key->empty()) {
    message.exchange = *exchange;
    message.routing_key = *routing_key;
  } else {
    if (!queue || queue->empty()) {
      queue = ctx.route_for_task ? ctx.route_for_task(sig.task) : std::nullopt;
    }
    message.exchange = "";
    message.routing_key = queue && !queue->empty() ? *queue : ctx.default_queue;
  }
  return message;
}

}  // namespace

common::Result<OutboundMessage> messageForSignature(const json& signature, const json& args_prefix,
                                                    const std::string& parent_id,
                                                    const std::string& root_id,
                                                    const json& chain_rest,
                                                    const CanvasContext& ctx) {
  if (!args_prefix.is_array()) return common::Error{"args prefix is not a list"};
  if (!chain_rest.is_null() && !chain_rest.is_array()) {
    return common::Error{"chain is not a list"};
  }
  const common::Result<Signature> sig = readSignature(signature);
  if (!sig) return sig.error();
  common::Result<OutboundMessage> message =
      buildMessage(*sig, args_prefix, parent_id, root_id, chain_rest, ctx);
  if (!message) return message.error().in("signature " + sig->task);
  return message;
}

}  // namespace celeriac::worker::celery
