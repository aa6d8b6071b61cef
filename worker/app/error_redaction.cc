#include "worker/app/error_redaction.h"

#include "worker/app/log_redactor.h"

namespace celeriac::worker::app {

namespace {

void redactStrings(nlohmann::json& value, const LogRedactor& redactor) {
  if (value.is_string()) {
    if (auto masked = redactor.redactIfNeeded(value.get_ref<const std::string&>())) {
      value = std::move(*masked);
    }
  } else if (value.is_array() || value.is_object()) {
    for (auto& item : value) redactStrings(item, redactor);
  }
}

}  // namespace

void redactSecrets(celery::ExceptionInfo& error) {
  const LogRedactor& redactor = logRedactor();
  redactStrings(error.args, redactor);
  if (auto masked = redactor.redactIfNeeded(error.traceback)) error.traceback = std::move(*masked);
}

}  // namespace celeriac::worker::app
