#pragma once
// Celery's Task.retry(), the pure part: may this run retry, what is republished, and
// what is stored meanwhile (celery/app/task.py `retry` and
// `signature_from_request`, celery/app/trace.py `handle_retry`, Celery 5.2.6).
//
// What for: a handler that completes with a Retry outcome (worker/tasks/task_outcome.h)
// is turned into (a) the same task message again, retries + 1 and eta = now +
// countdown, and (b) the RETRY document; or, once max_retries is used up, into the
// exception Celery raises instead.
// What not: no publishing, no storing, no parking decision (worker/app/pipeline/retry_plan.h
// chooses between the task's queue and a delay tier); no clock read: `ctx.now` is the
// retry's time.
// Ownership: pure functions returning values.
//
// Differences from Python that a client cannot observe: args/kwargs are re-serialised by
// nlohmann (a NaN argument becomes null, as everywhere we publish), and the traceback
// text is our short form (result_document.h) rather than Python frames.

#include <chrono>
#include <optional>
#include <string>

#include "common/result.h"
#include "worker/celery/canvas.h"
#include "worker/celery/exception_info.h"
#include "worker/celery/result_document.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

// Celery: `retries = request.retries + 1; if max_retries is not None and retries >
// max_retries: raise`. nullopt or negative `max_retries` means no limit.
bool mayRetry(const TaskMessage& task, std::optional<int> max_retries);

// What the run fails with when it may not retry: `exc` when retry() was given one
// (raise_with_context(exc)), else MaxRetriesExceededError("Can't retry
// <name>[<id>] args:<repr(tuple(args))> kwargs:<repr(kwargs)>").
ExceptionInfo retriesExhausted(const TaskMessage& task, const std::optional<ExceptionInfo>& exc);

// The message Celery's retry publishes: signature_from_request() + apply_async(), i.e.
// a fresh protocol-v2 message (messageForSignature) with the same id, root_id, group,
// group_index, shadow, chord, chain, link, link_error, expires, time limits, reply_to,
// priority and custom headers; retries = task.retries + 1; eta = ctx.now + countdown
// (null for a zero countdown, as Python's falsy countdown); parent_id = task.parent_id,
// or the task's own id when it had none (Python's quirk); argsrepr the tuple repr;
// origin = ctx.origin. Routing as the delivery came: default exchange -> its routing key
// as queue, else the same exchange and routing key. Celery 5.3+ stamps and 5.4
// replaced_task_nesting are carried when present. Returns an Error when the request's
// canvas fields cannot be re-sent (a malformed link, say).
common::Result<OutboundMessage> retryMessage(const TaskMessage& task,
                                             std::chrono::milliseconds countdown,
                                             const CanvasContext& ctx);

// str(Retry(exc=exc, when=countdown)): "Retry in 5s: KeyError('k0')", or "Retry in
// 180s" without exc (celery/exceptions.py Retry.__str__ and humanize()). Whole seconds
// print without a fraction, as Python prints the int countdowns people pass.
std::string retryReason(const std::optional<ExceptionInfo>& exc,
                        std::chrono::milliseconds countdown);

// The RETRY document handle_retry stores via mark_as_retry: retryRecord() (result = the
// encoded exc or null, children = [this id], date_done null), with the traceback of
// the Retry exception itself, ending "celery.exceptions.Retry: <retryReason()>" as in
// schemas/fixtures/celery/rs1.jsonl; written even without an exc, as Python does.
ResultRecord retryStateRecord(const TaskMessage& task, const std::optional<ExceptionInfo>& exc,
                              std::chrono::milliseconds countdown);

}  // namespace celeriac::worker::celery
