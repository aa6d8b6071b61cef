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
// Each returns false and sets `error` when the key is present, not null, and of the wrong
// type; absent and null leave `out` untouched.

const json* present(const json& options, const char* key) {
  const auto it = options.find(key);
  if (it == options.end() || it->is_null()) return nullptr;
  return &*it;
}

bool readString(const json& options, const char* key, std::optional<std::string>& out,
                std::string& error) {
  const json* value = present(options, key);
  if (value == nullptr) return true;
  if (!value->is_string()) {
    error = std::string("options.") + key + " is not a string";
    return false;
  }
  out = value->get<std::string>();
  return true;
}

bool readSeconds(const json& options, const char* key, std::optional<double>& out,
                 std::string& error) {
  const json* value = present(options, key);
  if (value == nullptr) return true;
  if (!value->is_number() || !std::isfinite(value->get<double>()) ||
      std::fabs(value->get<double>()) > kMaxOffsetSeconds) {
    error = std::string("options.") + key + " is not a number of seconds";
    return false;
  }
  out = value->get<double>();
  return true;
}

// A number (seconds) or null, copied as JSON so an integer stays an integer on the wire.
bool readLimit(const json& options, const char* key, json& out, std::string& error) {
  const json* value = present(options, key);
  if (value == nullptr) return true;
  if (!value->is_number()) {
    error = std::string("options.") + key + " is not a number";
    return false;
  }
  out = *value;
  return true;
}

// options.link / options.link_error: one signature dict or a list of them (Python's
// maybe_list()), as embed.callbacks / embed.errbacks.
bool readSignatureList(const json& options, const char* key, json& out, std::string& error) {
  const json* value = present(options, key);
  if (value == nullptr) return true;
  if (value->is_object()) {
    out = json::array({*value});
    return true;
  }
  if (!value->is_array()) {
    error = std::string("options.") + key + " is not a signature or a list of signatures";
    return false;
  }
  out = *value;
  return true;
}

std::chrono::system_clock::time_point offsetFrom(std::chrono::system_clock::time_point now,
                                                 double seconds) {
  return now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                   std::chrono::duration<double>(seconds));
}

// An ISO string option re-emitted in our canonical form (UTC, 6 fraction digits).
bool readIsoTime(const json& options, const char* key, json& out, std::string& error) {
  const json* value = present(options, key);
  if (value == nullptr) return true;
  const auto parsed =
      value->is_string() ? parseIsoTime(value->get_ref<const std::string&>()) : std::nullopt;
  if (!parsed) {
    error = std::string("options.") + key + " is not an ISO-8601 time";
    return false;
  }
  out = formatIsoTime(*parsed);
  return true;
}

std::optional<std::string> freshId(const CanvasContext& ctx, std::string& error) {
  if (!ctx.new_id) {
    error = "no id generator in the canvas context";
    return std::nullopt;
  }
  std::string id = ctx.new_id();
  if (id.empty()) {
    error = "the id generator returned an empty id";
    return std::nullopt;
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

std::optional<Signature> readSignature(const json& signature, std::string& error) {
  if (!signature.is_object()) {
    error = "signature is not a JSON object";
    return std::nullopt;
  }
  Signature sig;
  const json* task = present(signature, "task");
  if (task == nullptr || !task->is_string() || task->get_ref<const std::string&>().empty()) {
    error = "signature has no task name";
    return std::nullopt;
  }
  sig.task = task->get<std::string>();
  if (const json* type = present(signature, "subtask_type")) {
    // Nested canvas objects keep their payload in kwargs and need expanding first:
    // canvas_expand.cc does that and hands only plain task signatures here.
    error = "signature " + sig.task + ": nested canvas type " + type->dump() + " is not supported";
    return std::nullopt;
  }
  const json* args = present(signature, "args");
  if (args != nullptr && !args->is_array()) {
    error = "signature " + sig.task + ": args is not a list";
    return std::nullopt;
  }
  sig.args = args != nullptr ? *args : json::array();
  const json* kwargs = present(signature, "kwargs");
  if (kwargs != nullptr && !kwargs->is_object()) {
    error = "signature " + sig.task + ": kwargs is not a mapping";
    return std::nullopt;
  }
  sig.kwargs = kwargs != nullptr ? *kwargs : json::object();
  const json* options = present(signature, "options");
  if (options != nullptr && !options->is_object()) {
    error = "signature " + sig.task + ": options is not a mapping";
    return std::nullopt;
  }
  sig.options = options != nullptr ? *options : json::object();
  if (const json* immutable = present(signature, "immutable")) {
    if (!immutable->is_boolean()) {
      error = "signature " + sig.task + ": immutable is not a boolean";
      return std::nullopt;
    }
    sig.immutable = immutable->get<bool>();
  }
  return sig;
}

// Builds the message once the signature is known good; `error` explains a bad option.
std::optional<OutboundMessage> buildMessage(const Signature& sig, const json& args_prefix,
                                            const std::string& parent_id,
                                            const std::string& root_id, const json& chain_rest,
                                            const CanvasContext& ctx, std::string& error) {
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
  if (!readString(options, "task_id", task_id, error) ||
      !readString(options, "queue", queue, error) ||
      !readString(options, "exchange", exchange, error) ||
      !readString(options, "routing_key", routing_key, error) ||
      !readString(options, "reply_to", reply_to, error) ||
      !readString(options, "group_id", group_id, error) ||
      !readString(options, "shadow", shadow, error) ||
      !readString(options, "argsrepr", argsrepr, error) ||
      !readString(options, "kwargsrepr", kwargsrepr, error) ||
      !readSeconds(options, "countdown", countdown_s, error) ||
      !readLimit(options, "time_limit", time_limit, error) ||
      !readLimit(options, "soft_time_limit", soft_time_limit, error) ||
      !readSignatureList(options, "link", callbacks, error) ||
      !readSignatureList(options, "link_error", errbacks, error)) {
    return std::nullopt;
  }
  // Python: a truthy countdown replaces any eta (amqp.as_task_v2).
  if (countdown_s && *countdown_s != 0.0) {
    eta = formatIsoTime(offsetFrom(ctx.now, *countdown_s));
  } else if (!readIsoTime(options, "eta", eta, error)) {
    return std::nullopt;
  }
  if (const json* value = present(options, "expires"); value != nullptr && value->is_number()) {
    if (!readSeconds(options, "expires", expires_s, error)) return std::nullopt;
    expires = formatIsoTime(offsetFrom(ctx.now, *expires_s));
  } else if (!readIsoTime(options, "expires", expires, error)) {
    return std::nullopt;
  }
  json group_index = nullptr;
  if (const json* value = present(options, "group_index")) {
    if (!value->is_number_integer()) {
      error = "options.group_index is not an integer";
      return std::nullopt;
    }
    group_index = *value;
  }
  std::optional<std::uint8_t> priority;
  if (const json* value = present(options, "priority")) {
    if (!value->is_number_integer() || value->get<std::int64_t>() < 0 ||
        value->get<std::int64_t>() > 255) {
      error = "options.priority is not an integer in 0..255";
      return std::nullopt;
    }
    priority = static_cast<std::uint8_t>(value->get<std::int64_t>());
  }
  bool ignore_result = false;
  if (const json* value = present(options, "ignore_result")) {
    if (!value->is_boolean()) {
      error = "options.ignore_result is not a boolean";
      return std::nullopt;
    }
    ignore_result = value->get<bool>();
  }
  const json* chord = present(options, "chord");
  if (chord != nullptr && !chord->is_object()) {
    error = "options.chord is not a signature";
    return std::nullopt;
  }
  const json* custom_headers = present(options, "headers");
  if (custom_headers != nullptr && !custom_headers->is_object()) {
    error = "options.headers is not a mapping";
    return std::nullopt;
  }
  if (!task_id || task_id->empty()) {
    task_id = freshId(ctx, error);
    if (!task_id) return std::nullopt;
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

std::optional<OutboundMessage> messageForSignature(const json& signature, const json& args_prefix,
                                                   const std::string& parent_id,
                                                   const std::string& root_id,
                                                   const json& chain_rest, const CanvasContext& ctx,
                                                   std::string& error) {
  error.clear();
  if (!args_prefix.is_array()) {
    error = "args prefix is not a list";
    return std::nullopt;
  }
  if (!chain_rest.is_null() && !chain_rest.is_array()) {
    error = "chain is not a list";
    return std::nullopt;
  }
  const std::optional<Signature> sig = readSignature(signature, error);
  if (!sig) return std::nullopt;
  std::optional<OutboundMessage> message =
      buildMessage(*sig, args_prefix, parent_id, root_id, chain_rest, ctx, error);
  if (!message) error = "signature " + sig->task + ": " + error;
  return message;
}

}  // namespace celeriac::worker::celery
