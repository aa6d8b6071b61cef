#pragma once
// The built-in tasks every celeriac worker registers (no LLM involved):
//   celeriac.echo  - returns its arguments as Celery would: the single positional
//                    argument, or the list of them (kwargs alone: the kwargs object).
//   celeriac.fail  - fails with the given message: fail(message, exc_type="RuntimeError").
//                    A Python builtin exception name keeps module "builtins", so
//                    AsyncResult.get() raises the real class; others get module
//                    "celeriac.errors" and Python raises a synthetic class of that name.
//   celeriac.sleep - completes after N seconds (a loop timer; nothing blocks), returns N.
// Bad arguments give a FAILURE (TypeError / ValueError) that names the problem.

#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

void registerBuiltinTasks(TaskRegistry& registry);

}  // namespace celeriac::worker::tasks
