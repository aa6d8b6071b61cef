#pragma once
// The built-in tasks every celeriac worker registers (no LLM involved):
//   celeriac.echo  - returns its arguments as Celery would: the single positional
//                    argument, or the list of them (kwargs alone: the kwargs object).
//   celeriac.fail  - fails with the given message: fail(message, exc_type="RuntimeError").
//                    A Python builtin exception name keeps module "builtins", so
//                    AsyncResult.get() raises the real class; others get module
//                    "celeriac.errors" and Python raises a synthetic class of that name.
//   celeriac.sleep - completes after N seconds (a loop timer; nothing blocks), returns N.
//   celeriac.retry - Celery's retry pattern, for tests: retry(countdown=None,
//                    succeed_after=None) returns {"retries": n} once the request's
//                    retries n >= succeed_after, else asks to be retried after
//                    `countdown` seconds (default_retry_delay when None) with exc
//                    RuntimeError("retry <n>"). max_retries 3, as Celery's default, so
//                    the run with retries == 3 fails with that RuntimeError.
// Bad arguments give a FAILURE (TypeError / ValueError) that names the problem.

#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

void registerBuiltinTasks(TaskRegistry& registry);

}  // namespace celeriac::worker::tasks
