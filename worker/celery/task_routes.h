#pragma once
// routeTask(): the queue a task name goes to when the signature being published names
// none (a chain step, a callback, a chord body), as Celery's router resolves it.
//
// What for: the worker that runs a step publishes the next one, so it routes as the
// Python app would: the queues of the tasks this worker serves first (their names are
// exact), then Celery's task_routes as glob patterns in order (fnmatch, as Celery's
// glob routes match), else the caller's default queue.
// What not: no regex routes and no router functions (Celery's other route kinds); no
// exchange or routing-key routes.
// Ownership: a pure function over the tables it is given.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace celeriac::worker::celery {

// The queue for `task_name`: `exact` by name, else the first matching (pattern, queue)
// of `patterns`; nullopt when none says (the caller uses its default queue).
std::optional<std::string> routeTask(
    const std::string& task_name, const std::map<std::string, std::string>& exact,
    const std::vector<std::pair<std::string, std::string>>& patterns);

}  // namespace celeriac::worker::celery
