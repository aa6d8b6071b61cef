#pragma once
// LlmServices: the balancer and everything it needs in the worker process, built from
// the configuration at start-up: libcurl transport, optional shared token buckets in
// Redis, the Balancer, and the two LLM tasks registered in the TaskRegistry.
//
// Built only when an LLM configuration is given (--llm-config, or LLM_ENDPOINTS in the
// environment); without one the worker serves the built-in tasks only. Construction
// throws (balancer::ConfigError, LlmTasksConfigError, ...) on a bad configuration so a
// broken deployment stops before consuming anything; messages never contain secrets.
// Destroy it before the dispatcher: the Balancer cancels its calls, then the transport
// and the bucket store close. Loop thread only.

#include <map>
#include <memory>
#include <string>

#include "worker/app/worker_config.h"
#include "worker/tasks/task_registry.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::worker::app {

class LlmServices {
 public:
  // Returns nullptr when no LLM configuration is given.
  static std::unique_ptr<LlmServices> create(const WorkerConfig& config,
                                             uv::UvDispatcher& dispatcher,
                                             tasks::TaskRegistry& registry);
  ~LlmServices();
  LlmServices(const LlmServices&) = delete;
  LlmServices& operator=(const LlmServices&) = delete;

  // Task queues the LLM tasks are routed to (consumed in addition to -Q).
  [[nodiscard]] const std::vector<std::string>& queues() const { return queues_; }
  // Task name -> queue, for routing chain steps and callbacks that name no queue.
  [[nodiscard]] const std::map<std::string, std::string>& taskQueues() const { return task_queues_; }

 private:
  LlmServices() = default;
  struct Parts;
  std::unique_ptr<Parts> parts_;
  std::vector<std::string> queues_;
  std::map<std::string, std::string> task_queues_;
};

}  // namespace celeriac::worker::app
