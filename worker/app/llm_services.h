#pragma once
// LlmServices: the balancer and everything it needs in the worker process, built from
// the configuration at start-up: libcurl transport, optional shared token buckets in
// Redis, the Balancer, and the two LLM tasks registered in the TaskRegistry.
//
// Built only when an LLM configuration is given (--llm-config, or LLM_ENDPOINTS in the
// environment); without one the worker serves the built-in tasks only. Construction
// returns the Error of whichever loader refused (the balancer's config or secrets, the
// tasks config, a prompt, a schema), so a broken deployment stops before consuming
// anything (WorkerApp::run says "cannot start: ..." and exits 2); messages never contain
// secrets.
// Destroy it before the dispatcher: the Balancer cancels its calls, then the transport
// and the bucket store close. Loop thread only.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/dispatcher.h"
#include "common/result.h"
#include "worker/app/worker_config.h"
#include "worker/redis/redis_url.h"
#include "worker/tasks/task_registry.h"
#include "worker/uv/uv_dispatcher.h"

namespace celeriac::balancer {
class Balancer;
}

namespace celeriac::worker::app {

class LlmServices {
 public:
  // Null when no LLM configuration is given; an Error naming what was refused.
  [[nodiscard]] static common::Result<std::unique_ptr<LlmServices>> create(
      const WorkerConfig& config, uv::UvDispatcher& dispatcher, tasks::TaskRegistry& registry);
  ~LlmServices();
  LlmServices(const LlmServices&) = delete;
  LlmServices& operator=(const LlmServices&) = delete;

  // Task queues the LLM tasks are routed to (consumed in addition to -Q).
  [[nodiscard]] const std::vector<std::string>& queues() const { return queues_; }
  // Task name -> queue, for routing chain steps and callbacks that name no queue.
  [[nodiscard]] const std::map<std::string, std::string>& taskQueues() const {
    return task_queues_;
  }

  // This replica's key set: pinned by the operator, leased in Redis, or
  // shared with another replica because every set was taken (said loudly at start).
  struct KeySet {
    std::string name;     // empty: the configuration has no key sets
    bool pinned = false;  // INSTANCE_ID or a StatefulSet ordinal chose it
    bool leased = false;  // this replica holds its lease
    bool shared = false;  // another live replica uses it too
  };
  [[nodiscard]] const KeySet& keySet() const { return key_set_; }
  // The balancer, for its metrics (attempt observer, stats()).
  [[nodiscard]] balancer::Balancer& balancer();
  // Renews the lease every TTL/3 through `renew` (ResultStore::renewLease); a lease lost
  // to another replica (this one was stopped longer than the TTL) marks the set shared
  // and logs an error. No-op unless a lease is held.
  using RenewLease =
      std::function<void(std::string key, std::string owner, std::chrono::milliseconds ttl,
                         std::function<void(long long)> done)>;
  void startLeaseRenewal(RenewLease renew);

 private:
  LlmServices() = default;
  struct Parts;
  std::unique_ptr<Parts> parts_;
  std::vector<std::string> queues_;
  std::map<std::string, std::string> task_queues_;
  KeySet key_set_;
  std::string lease_owner_;
  std::chrono::milliseconds lease_ttl_{0};
  redis::RedisUrl lease_redis_;
  uv::UvDispatcher* dispatcher_ = nullptr;
  RenewLease renew_;
  common::TimerId renew_timer_ = 0;
  void renewLater();
};

}  // namespace celeriac::worker::app
