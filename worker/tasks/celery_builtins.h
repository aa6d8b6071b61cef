#pragma once
// Celery's own built-in tasks (celery/app/builtins.py) for the tasks celeriac serves:
//   celery.map(task, it)       [task(item) for item in it]   -- sequentially, in process
//   celery.starmap(task, it)   [task(*item) for item in it]
//   celery.chunks(task, it, n) publishes a group of celery.starmap(task, slice) over
//                              slices of n items (Success::applies; the pipeline
//                              publishes) and returns that group's result tuple
//   celery.accumulate(*args, index=None)  args[index], or the args list
//   celery.backend_cleanup()   None (Redis expires results itself; Celery's Redis
//                              backend has nothing to clean either)
// `task` is a signature dict naming a task registered here; each item runs through its
// handler exactly as a message with those args would (its own args/kwargs are not
// used, as Python calls the task function directly). The first failure fails the map.
// What not: celery.chord_unlock (on Redis, chords need no polling task: each header
// task counts itself into the chord's keys, and the one that completes last publishes
// the body).
// Loop thread only; the registry must outlive every run.

#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

void registerCeleryBuiltins(TaskRegistry& registry);

}  // namespace celeriac::worker::tasks
