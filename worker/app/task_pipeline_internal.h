#pragma once
// What the TaskPipeline's source files share: the Job record (pipeline/job.h) and the
// task logger (pipeline/task_log.h). Private to worker/app; include task_pipeline.h
// for the class.

#include "worker/app/pipeline/job.h"
#include "worker/app/pipeline/task_log.h"
#include "worker/app/task_pipeline.h"

namespace celeriac::worker::app {

// The parts' logger, under its short name for the TaskPipeline's files.
using pipeline::taskLog;

}  // namespace celeriac::worker::app
