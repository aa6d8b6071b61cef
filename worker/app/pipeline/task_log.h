#pragma once
// taskLog(): the "celeriac.task" logger every part of the pipeline writes its one line
// per task event to (the application may have registered it with its sinks; otherwise
// a clone of the default logger).

#include <spdlog/spdlog.h>

#include <memory>

namespace celeriac::worker::app::pipeline {

inline std::shared_ptr<spdlog::logger> taskLog() {
  static auto logger = [] {
    auto existing = spdlog::get("celeriac.task");
    return existing ? existing : spdlog::default_logger()->clone("celeriac.task");
  }();
  return logger;
}

}  // namespace celeriac::worker::app::pipeline
