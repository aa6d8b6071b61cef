#pragma once
// ExceptionInfo: an exception as Celery stores it in a result document.
//
// What for: FAILURE, RETRY and REVOKED results carry {"exc_type", "exc_message",
// "exc_module"}; the Python client rebuilds a real exception from it, so
// the type/module pair decides what `AsyncResult.get()` raises. Factories here produce
// the exact triples Celery itself stores for its own failures.
// What not: no traceback formatting (result_document.h writes the text) and no
// knowledge of task handlers.
// Ownership: plain values and pure functions.

#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

struct ExceptionInfo {
  std::string type;    // class __qualname__, e.g. "ValueError"
  std::string module;  // e.g. "builtins"; empty is written as null (client synthesises the class)
  nlohmann::json args = nlohmann::json::array();  // exception args, the exc_message
  // Traceback text for the result document. Empty: result_document.h writes a short
  // text of its own, unless omit_traceback is set.
  std::string traceback;
  // Celery stores `traceback: null` for its own refusals and kills (NotRegistered,
  // TimeLimitExceeded, revokes); the factories below set this.
  bool omit_traceback = false;
};

// {"exc_type": type, "exc_message": args, "exc_module": module-or-null}, in that
// order. A non-array `args` is wrapped into a one-element array: clients accept a bare
// string too, but an array is what Celery writes.
nlohmann::json encodeException(const ExceptionInfo& info);

// The module a task's error type should be stored under. Python builtin exception
// names (ValueError, KeyError, TimeoutError, ...) map to "builtins" so the client
// raises the real builtin class; anything else gets `default_module` (the client then
// synthesises a class of that name unless the module is imported there).
// BaseException-only builtins (SystemExit, KeyboardInterrupt, GeneratorExit) are not
// mapped: re-raising those in a client would stop it rather than report an error.
std::string moduleForExceptionType(std::string_view type, std::string_view default_module);

// ExceptionInfo for `type` with a single message argument, module per
// moduleForExceptionType().
ExceptionInfo makeException(std::string_view type, std::string_view message,
                            std::string_view default_module);

// celery.exceptions.NotRegistered([task_name]), traceback null.
ExceptionInfo notRegistered(std::string_view task_name);

// celery.exceptions.TaskRevokedError([reason]) with reason "expired", "revoked" or
// "terminated"; traceback null.
ExceptionInfo taskRevoked(std::string_view reason);

// kombu.exceptions.ContentDisallowed([message]) (kombu is importable on every client,
// so the caller gets a real ContentDisallowed); traceback null.
ExceptionInfo contentDisallowed(std::string_view message);

// kombu.exceptions.DecodeError([message]): a body of an accepted type that does not
// decode; traceback null.
ExceptionInfo decodeFailure(std::string_view message);

// celery.exceptions.InvalidTaskError([message]): a decodable message that is not a
// valid task (bad eta, kwargs not a mapping, ...); traceback null.
ExceptionInfo invalidTask(std::string_view message);

// billiard.exceptions.TimeLimitExceeded([hard_limit_s]), traceback null.
ExceptionInfo timeLimitExceeded(double hard_limit_s);

// billiard.exceptions.SoftTimeLimitExceeded([]); the traceback is kept.
ExceptionInfo softTimeLimitExceeded();

// celery.exceptions.MaxRetriesExceededError([message]), when retry() had no exc.
ExceptionInfo maxRetriesExceeded(std::string_view message);

// billiard.exceptions.WorkerLostError([message]): the task's runs ended the worker
// process (Celery stores it when a pool process dies under a task).
ExceptionInfo workerLost(std::string_view message);

// A C++ exception that escaped task, codec or pipeline code, as the Python builtin a
// caller would expect for it: nlohmann type errors and std::invalid_argument as
// TypeError/ValueError, lookups (nlohmann out_of_range, std::out_of_range) as
// LookupError's KeyError/IndexError, std::bad_alloc as MemoryError, anything else as
// RuntimeError. The message is what() (ours and nlohmann's never hold a secret), so
// the task fails with a clear error instead of ending the process.
ExceptionInfo fromCppException(const std::exception& error);

}  // namespace celeriac::worker::celery
