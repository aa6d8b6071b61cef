#include "worker/celery/task_state.h"

#include <array>
#include <utility>

namespace celeriac::worker::celery {
namespace {

constexpr std::array<std::pair<TaskState, std::string_view>, 7> kNames{{
    {TaskState::kPending, "PENDING"},
    {TaskState::kReceived, "RECEIVED"},
    {TaskState::kStarted, "STARTED"},
    {TaskState::kRetry, "RETRY"},
    {TaskState::kSuccess, "SUCCESS"},
    {TaskState::kFailure, "FAILURE"},
    {TaskState::kRevoked, "REVOKED"},
}};

}  // namespace

std::string_view stateName(TaskState state) {
  for (const auto& [value, name] : kNames) {
    if (value == state) return name;
  }
  return "PENDING";
}

std::optional<TaskState> parseTaskState(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

bool isReady(TaskState state) {
  return state == TaskState::kSuccess || state == TaskState::kFailure ||
         state == TaskState::kRevoked;
}

bool isExceptionState(TaskState state) {
  return state == TaskState::kRetry || state == TaskState::kFailure || state == TaskState::kRevoked;
}

}  // namespace celeriac::worker::celery
