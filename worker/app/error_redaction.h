#pragma once
// Secrets never reach a stored result: a provider's error text may quote the API key it
// refused ("Incorrect API key provided: sk-..."), and a task's FAILURE or RETRY
// document would hand it to every Python client that reads the result. The same
// redaction as the logs' (log_redactor.h: registered keys and passwords, key-shaped
// tokens) is applied to an exception's message strings and traceback before it is
// stored or published.

#include "worker/celery/exception_info.h"

namespace celeriac::worker::app {

// Masks secrets in every string inside `error.args` (at any depth) and in its traceback.
void redactSecrets(celery::ExceptionInfo& error);

}  // namespace celeriac::worker::app
