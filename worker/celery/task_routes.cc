#include "worker/celery/task_routes.h"

#include <fnmatch.h>

namespace celeriac::worker::celery {

std::optional<std::string> routeTask(
    const std::string& task_name, const std::map<std::string, std::string>& exact,
    const std::vector<std::pair<std::string, std::string>>& patterns) {
  const auto it = exact.find(task_name);
  if (it != exact.end()) return it->second;
  for (const auto& [pattern, queue] : patterns) {
    if (fnmatch(pattern.c_str(), task_name.c_str(), 0) == 0) return queue;
  }
  return std::nullopt;
}

}  // namespace celeriac::worker::celery
