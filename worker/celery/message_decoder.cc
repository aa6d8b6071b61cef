#include "worker/celery/message_decoder.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "worker/celery/body_inflater.h"
#include "worker/celery/python_json.h"
#include "worker/celery/task_fields.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// "application/json; charset=utf-8" -> "application/json".
std::string mediaType(std::string_view content_type) {
  return lowercase(trim(content_type.substr(0, content_type.find(';'))));
}

// kombu's names for the serializers it registers, used in its refusal text.
std::string_view serializerName(std::string_view media_type) {
  if (media_type == "application/x-python-serialize") return "pickle";
  if (media_type == "application/x-yaml") return "yaml";
  if (media_type == "application/x-msgpack") return "msgpack";
  if (media_type == "application/json") return "json";
  return media_type;
}

// kombu.serialization: 'Refusing to deserialize untrusted content of type pickle
// (application/x-python-serialize)'; kombu names an empty type application/data.
std::string refusalText(std::string_view content_type) {
  const std::string media = content_type.empty() ? "application/data" : mediaType(content_type);
  const std::string_view name = serializerName(media);
  std::string text = "Refusing to deserialize untrusted content of type ";
  text += name;
  if (name != media) text += " (" + media + ")";
  return text;
}

bool acceptedEncoding(std::string_view content_encoding) {
  const std::string encoding = lowercase(trim(content_encoding));
  return encoding.empty() || encoding == "utf-8" || encoding == "utf8" || encoding == "binary" ||
         encoding == "ascii" || encoding == "us-ascii";
}

// What can be read about the task without trusting the body: the v2 headers.
struct Identity {
  std::string id;
  std::string name;
};

Identity identityOf(const json& meta) {
  Identity who;
  if (!meta.is_object()) return who;
  if (const auto it = meta.find("id"); it != meta.end() && it->is_string()) {
    who.id = it->get<std::string>();
  }
  if (const auto it = meta.find("task"); it != meta.end() && it->is_string()) {
    who.name = it->get<std::string>();
  }
  return who;
}

DecodeResult failure(DecodeErrorKind kind, std::string message, const Identity& who) {
  DecodeResult result;
  result.error.kind = kind;
  result.error.message = std::move(message);
  result.error.task_id = who.id;
  result.error.task_name = who.name;
  return result;
}

// The embed dict: null or an object whose four keys may each be missing or
// null. Container types are checked here; signatures are the canvas code's business.
Result<void> readEmbed(const json& embed, TaskMessage& task) {
  if (embed.is_null()) return {};
  const auto take = [&embed](const char* key, bool want_array, json& out) -> Result<void> {
    const auto it = embed.find(key);
    if (it == embed.end() || it->is_null()) return {};
    if (want_array ? !it->is_array() : !it->is_object()) {
      return Error{std::string("embed '") + key + "' must be " +
                   (want_array ? "a list of signatures" : "a signature dict") + " or null, got " +
                   it->type_name()};
    }
    out = *it;
    return {};
  };
  if (auto read = take("callbacks", true, task.callbacks); !read) return read;
  if (auto read = take("errbacks", true, task.errbacks); !read) return read;
  if (auto read = take("chain", true, task.chain); !read) return read;
  return take("chord", false, task.chord);
}

Result<void> readArgsKwargs(const json& args, const json& kwargs, TaskMessage& task) {
  if (!args.is_array()) {
    return Error{std::string("task args must be a list, got ") + args.type_name()};
  }
  if (!kwargs.is_object()) {
    return Error{std::string("task keyword arguments must be a mapping, got ") +
                 kwargs.type_name()};
  }
  task.args = args;
  task.kwargs = kwargs;
  return {};
}

// A v1 or hybrid dict body: args/kwargs default to empty, embed comes from
// the top-level callbacks/errbacks/chord keys, and v1 has no chain.
Result<void> readDictBody(const json& body, TaskMessage& task) {
  const json args = body.value("args", json::array());
  const json kwargs = body.value("kwargs", json::object());
  if (auto read = readArgsKwargs(args, kwargs, task); !read) return read;
  json embed = json::object();
  for (const char* key : {"callbacks", "errbacks", "chord"}) {
    if (body.contains(key)) embed[key] = body[key];
  }
  return readEmbed(embed, task);
}

void copyEnvelope(const RawMessage& raw, TaskMessage& task) {
  task.reply_to = raw.reply_to;
  task.correlation_id = raw.correlation_id;
  task.priority = raw.priority;
  task.exchange = raw.exchange;
  task.routing_key = raw.routing_key;
  task.redelivered = raw.redelivered;
}

}  // namespace

DecodeResult decodeMessage(const RawMessage& raw) {
  static const json kNoHeaders = json::object();
  const json& headers = raw.headers.is_object() ? raw.headers : kNoHeaders;
  // Protocol detection, as Celery's consumer does: a `task` header means v2, whatever its value.
  const bool v2 = headers.contains("task");
  Identity who = identityOf(headers);

  // 1. Content type and encoding, before touching the body.
  if (mediaType(raw.content_type) != "application/json") {
    return failure(DecodeErrorKind::kContentDisallowed, refusalText(raw.content_type), who);
  }
  if (!acceptedEncoding(raw.content_encoding)) {
    return failure(DecodeErrorKind::kContentDisallowed,
                   "Refusing to decode content_encoding '" + raw.content_encoding +
                       "' (accepted: utf-8, binary)",
                   who);
  }

  // 2. Compression: header `compression` names the compressor, content_type the serializer.
  std::string inflated;
  std::string_view body_text = raw.body;
  if (const auto it = headers.find("compression"); it != headers.end() && !it->is_null()) {
    if (!it->is_string()) {
      return failure(DecodeErrorKind::kMalformedBody, "header 'compression' must be a string", who);
    }
    const std::string& compression = it->get_ref<const std::string&>();
    if (!isSupportedCompression(compression)) {
      return failure(DecodeErrorKind::kContentDisallowed,
                     "Refusing to decompress body compressed with '" + compression +
                         "' (supported: application/x-gzip)",
                     who);
    }
    Result<std::string> result = inflateBody(raw.body);
    if (!result) {
      return failure(DecodeErrorKind::kMalformedBody,
                     "cannot decompress " + compression + " body: " + result.error().message, who);
    }
    inflated = std::move(result).value();
    body_text = inflated;
  }

  // 3. JSON (Python's NaN/Infinity tokens allowed).
  Result<json> parsed = parsePythonJson(body_text);
  if (!parsed) {
    return failure(DecodeErrorKind::kMalformedBody,
                   "body is not valid JSON: " + parsed.error().message, who);
  }
  const json& body = *parsed;

  TaskMessage task;
  copyEnvelope(raw, task);
  const json* meta = &headers;
  json merged;
  Result<void> body_read;  // its error is reported after the metadata's own errors
  if (v2 && body.is_object() && body.contains("args")) {
    // Hybrid (celery hybrid_to_proto2): v1-style body, headers win.
    merged = body;
    for (const auto& [key, value] : headers.items()) merged[key] = value;
    meta = &merged;
    body_read = readDictBody(body, task);
  } else if (v2) {
    if (!body.is_array()) {
      return failure(
          DecodeErrorKind::kMalformedBody,
          std::string("body must be a JSON array [args, kwargs, embed], got ") + body.type_name(),
          who);
    }
    // Exactly three: a 2-element body crashes the Python worker; we reject it.
    if (body.size() != 3) {
      return failure(DecodeErrorKind::kMalformedBody,
                     "body must have exactly 3 elements [args, kwargs, embed], got " +
                         std::to_string(body.size()),
                     who);
    }
    if (!body[2].is_null() && !body[2].is_object()) {
      return failure(
          DecodeErrorKind::kMalformedBody,
          std::string("embed (body[2]) must be an object or null, got ") + body[2].type_name(),
          who);
    }
    body_read = readArgsKwargs(body[0], body[1], task);
    if (body_read) body_read = readEmbed(body[2], task);
  } else if (body.is_object() && body.contains("task")) {
    // Protocol v1: the body is the whole request.
    task.protocol = 1;
    meta = &body;
    who = identityOf(body);
    body_read = readDictBody(body, task);
  } else {
    return failure(DecodeErrorKind::kUnknownMessage,
                   "unknown message: no 'task' header (protocol 2) and the body is not a "
                   "task dict (protocol 1)",
                   who);
  }
  if (auto fields = readTaskFields(*meta, task.protocol, task); !fields) {
    return failure(DecodeErrorKind::kInvalidTask, fields.error().message, who);
  }
  if (!body_read) return failure(DecodeErrorKind::kInvalidTask, body_read.error().message, who);
  task.custom_headers = customHeaders(headers);

  DecodeResult result;
  result.task = std::move(task);
  return result;
}

ExceptionInfo exceptionForDecodeError(const DecodeError& error) {
  switch (error.kind) {
    case DecodeErrorKind::kContentDisallowed:
      return contentDisallowed(error.message);
    case DecodeErrorKind::kMalformedBody:
      return decodeFailure(error.message);
    case DecodeErrorKind::kUnknownMessage:
    case DecodeErrorKind::kInvalidTask:
      break;
  }
  return invalidTask(error.message);
}

}  // namespace celeriac::worker::celery
