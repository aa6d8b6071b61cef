#pragma once
// decodeMessage(): turn one AMQP delivery into a validated TaskMessage, or say why not.
//
// What for: the single place that knows Celery's message formats: protocol v2
// (headers + [args, kwargs, embed] body), protocol v1 (everything in a dict body), and
// the "hybrid" form (v2 headers + v1-style dict body with `args`). The
// pipeline acts on the error kind:
//   kContentDisallowed  pickle/yaml/msgpack/unknown type or encoding, unsupported
//                       compression: reject(requeue=false); we also store a FAILURE
//                       (exceptionForDecodeError) when task_id is known (Celery stores none).
//   kMalformedBody      the body does not decode (bad JSON, bad compression, over the
//                       size cap) or has the wrong shape (not a 3-element array, embed
//                       not an object).
//   kUnknownMessage     neither a `task` header nor a v1 dict body with `task`.
//   kInvalidTask        decodes, but is not a valid task (missing id, bad eta/expires,
//                       args not an array, kwargs not an object, bad timelimit, ...).
// What not: no registry lookup (unknown task names decode fine), no expiry or revoke
// checks (those need the clock), no canvas validation beyond container types.
// Ownership: pure functions; the result owns copies of everything it needs.
//
// Accepted leniencies, each a deliberate superset of what Python accepts:
// * content_type "application/json" with parameters ("; charset=utf-8"), any case;
//   content_encoding "utf-8"/"utf8"/"binary"/"ascii"/"us-ascii" or empty.
// * JSON with Python's NaN / Infinity / -Infinity tokens (python_json.h).
// * gzip framing under the application/x-gzip header (body_inflater.h).
// * eta/expires: any ISO-8601 form iso_time.h accepts; naive means UTC. A v1 `utc:
//   false` flag is ignored: this worker runs in UTC.
// * v1 `taskset` is the old name of `group`; when both are present the non-null wins
//   (Python lets `taskset` overwrite `group` even when null).
// * kombu >= 5.3 typed envelopes {"__type__": ..., "__value__": ...} stay
//   as-is inside args/kwargs: handlers see them as plain objects.

#include <string>

#include "worker/celery/exception_info.h"
#include "worker/celery/raw_message.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

enum class DecodeErrorKind {
  kContentDisallowed,  // pickle, yaml, msgpack, unknown content type/encoding/compression
  kMalformedBody,      // undecodable JSON, wrong body shape, bad compression, size cap
  kUnknownMessage,     // neither v2 headers nor v1 body
  kInvalidTask,        // bad eta/expires, kwargs not an object, args not an array, no id
};

struct DecodeError {
  DecodeErrorKind kind = DecodeErrorKind::kMalformedBody;
  std::string message;    // clear, says why, safe to show a Python caller
  std::string task_id;    // empty when unreadable
  std::string task_name;  // empty when unreadable
};

struct DecodeResult {
  std::optional<TaskMessage> task;
  DecodeError error;  // meaningful only when !ok()
  bool ok() const { return task.has_value(); }
};

DecodeResult decodeMessage(const RawMessage& raw);

// The exception to store as FAILURE for a refused message: kContentDisallowed ->
// kombu.exceptions.ContentDisallowed, kMalformedBody -> kombu.exceptions.DecodeError,
// kUnknownMessage and kInvalidTask -> celery.exceptions.InvalidTaskError; the error
// message as the single argument, traceback null.
ExceptionInfo exceptionForDecodeError(const DecodeError& error);

}  // namespace celeriac::worker::celery
