#include "worker/celery/exception_info.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <new>
#include <stdexcept>

namespace celeriac::worker::celery {
namespace {

// Python 3.11's builtin Exception subclasses (the `builtins` module). BaseException,
// SystemExit, KeyboardInterrupt, GeneratorExit and BaseExceptionGroup are left out on
// purpose (see the header).
constexpr auto kBuiltinExceptions = std::to_array<std::string_view>({
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "WindowsError",
    "ZeroDivisionError",
});

bool isBuiltinException(std::string_view type) {
  return std::find(kBuiltinExceptions.begin(), kBuiltinExceptions.end(), type) !=
         kBuiltinExceptions.end();
}

ExceptionInfo celeryOwn(std::string_view type, std::string_view module, nlohmann::json args) {
  ExceptionInfo info;
  info.type = std::string(type);
  info.module = std::string(module);
  info.args = std::move(args);
  info.omit_traceback = true;
  return info;
}

}  // namespace

nlohmann::json encodeException(const ExceptionInfo& info) {
  // nlohmann::json keeps keys sorted; renderResultDocument() writes the three keys back
  // in Celery's order (exc_type, exc_message, exc_module).
  nlohmann::json encoded = nlohmann::json::object();
  encoded["exc_type"] = info.type;
  encoded["exc_message"] = info.args.is_array() ? info.args : nlohmann::json::array({info.args});
  encoded["exc_module"] =
      info.module.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.module);
  return encoded;
}

std::string moduleForExceptionType(std::string_view type, std::string_view default_module) {
  return std::string(isBuiltinException(type) ? std::string_view("builtins") : default_module);
}

ExceptionInfo makeException(std::string_view type, std::string_view message,
                            std::string_view default_module) {
  ExceptionInfo info;
  info.type = std::string(type);
  info.module = moduleForExceptionType(type, default_module);
  info.args = nlohmann::json::array({std::string(message)});
  return info;
}

ExceptionInfo notRegistered(std::string_view task_name) {
  return celeryOwn("NotRegistered", "celery.exceptions", {std::string(task_name)});
}

ExceptionInfo taskRevoked(std::string_view reason) {
  return celeryOwn("TaskRevokedError", "celery.exceptions", {std::string(reason)});
}

ExceptionInfo contentDisallowed(std::string_view message) {
  return celeryOwn("ContentDisallowed", "kombu.exceptions", {std::string(message)});
}

ExceptionInfo decodeFailure(std::string_view message) {
  return celeryOwn("DecodeError", "kombu.exceptions", {std::string(message)});
}

ExceptionInfo invalidTask(std::string_view message) {
  return celeryOwn("InvalidTaskError", "celery.exceptions", {std::string(message)});
}

ExceptionInfo timeLimitExceeded(double hard_limit_s) {
  // Python stores the limit as given: an int stays an int ([30], not [30.0]).
  nlohmann::json limit = hard_limit_s;
  if (std::isfinite(hard_limit_s) && std::trunc(hard_limit_s) == hard_limit_s &&
      std::fabs(hard_limit_s) < 9.0e15) {
    limit = static_cast<long long>(hard_limit_s);
  }
  return celeryOwn("TimeLimitExceeded", "billiard.exceptions", nlohmann::json::array({limit}));
}

ExceptionInfo workerLost(std::string_view message) {
  ExceptionInfo info;
  info.type = "WorkerLostError";
  info.module = "billiard.exceptions";
  info.args = nlohmann::json::array({std::string(message)});
  return info;
}

ExceptionInfo softTimeLimitExceeded() {
  ExceptionInfo info;
  info.type = "SoftTimeLimitExceeded";
  info.module = "billiard.exceptions";
  info.args = nlohmann::json::array();
  return info;  // Celery keeps the traceback here: the task saw the exception.
}

ExceptionInfo maxRetriesExceeded(std::string_view message) {
  ExceptionInfo info;
  info.type = "MaxRetriesExceededError";
  info.module = "celery.exceptions";
  info.args = nlohmann::json::array({std::string(message)});
  return info;
}

ExceptionInfo fromCppException(const std::exception& error) {
  std::string_view type = "RuntimeError";
  if (dynamic_cast<const nlohmann::json::type_error*>(&error) != nullptr) {
    type = "TypeError";
  } else if (const auto* range = dynamic_cast<const nlohmann::json::out_of_range*>(&error)) {
    type = range->id == 403 ? "KeyError" : "IndexError";  // 403: key not found
  } else if (dynamic_cast<const std::invalid_argument*>(&error) != nullptr ||
             dynamic_cast<const nlohmann::json::exception*>(&error) != nullptr) {
    type = "ValueError";
  } else if (dynamic_cast<const std::out_of_range*>(&error) != nullptr) {
    type = "IndexError";
  } else if (dynamic_cast<const std::bad_alloc*>(&error) != nullptr) {
    type = "MemoryError";
  }
  return makeException(type, error.what(), "builtins");
}

}  // namespace celeriac::worker::celery
