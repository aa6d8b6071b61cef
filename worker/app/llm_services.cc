#include "worker/app/llm_services.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "worker/http/curl_transport.h"
#include "worker/redis/redis_shared_bucket_store.h"
#include "worker/tasks/llm_tasks.h"

namespace celeriac::worker::app {

namespace {

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

balancer::EnvMap envMap(const std::map<std::string, std::string>& env) {
  return balancer::EnvMap(env.begin(), env.end());
}

}  // namespace

// Declared in destruction order: the Balancer goes first (it cancels its calls on the
// transport and refunds through the store), then the transport, then the store.
struct LlmServices::Parts {
  std::unique_ptr<redis::RedisSharedBucketStore> shared_store;
  std::unique_ptr<http::CurlTransport> transport;
  std::unique_ptr<balancer::Balancer> balancer;
};

std::unique_ptr<LlmServices> LlmServices::create(const WorkerConfig& config,
                                                 uv::UvDispatcher& dispatcher,
                                                 tasks::TaskRegistry& registry) {
  const balancer::EnvMap env = envMap(config.env);
  const bool from_env = config.llm_config.empty() && env.contains("LLM_ENDPOINTS");
  if (config.llm_config.empty() && !from_env) return nullptr;
  auto log = spdlog::default_logger();

  balancer::BalancerConfig balancer_config;
  if (from_env) {
    balancer_config = balancer::ConfigLoader::fromEnv(env);
  } else {
    auto text = readFile(config.llm_config);
    if (!text) throw std::runtime_error("--llm-config: cannot read " + config.llm_config);
    balancer_config = balancer::ConfigLoader::fromYaml(*text);
  }
  const std::string key_set = balancer::ConfigLoader::applyKeySet(balancer_config, env);

  std::unique_ptr<LlmServices> services(new LlmServices());
  services->parts_ = std::make_unique<Parts>();
  Parts& p = *services->parts_;
  if (balancer::usesSharedBuckets(balancer_config)) {
    p.shared_store = std::make_unique<redis::RedisSharedBucketStore>(
        dispatcher, config.backend, redis::RedisSharedBucketStoreOptions{},
        redis::RedisSharedBucketStore::Callbacks{
            [log] { log->info("shared rate-limit buckets available in Redis"); },
            [log](const std::string& reason) {
              log->warn(
                  "shared rate-limit buckets unavailable ({}): local buckets at this "
                  "replica's share",
                  reason);
            }});
    p.shared_store->start();
  }
  p.transport = std::make_unique<http::CurlTransport>(dispatcher);
  p.balancer = std::make_unique<balancer::Balancer>(
      std::move(balancer_config), dispatcher, *p.transport,
      balancer::ConfigLoader::secretResolver(env, &readFile), 0x5eed, p.shared_store.get());

  const tasks::LlmTasksConfig tasks_config =
      config.tasks_config.empty() ? tasks::LlmTasksConfig::defaults(config.data_dir)
                                  : tasks::loadLlmTasksConfig(config.tasks_config, config.data_dir);
  tasks::registerLlmTasks(registry, *p.balancer, tasks_config);
  services->queues_ = {tasks_config.analyze.queue, tasks_config.generate.queue};
  services->task_queues_ = {{tasks_config.analyze.name, tasks_config.analyze.queue},
                            {tasks_config.generate.name, tasks_config.generate.queue}};
  log->info("LLM tasks registered: {} on {}, {} on {} (key set {}, shared buckets {})",
            tasks_config.analyze.name, tasks_config.analyze.queue, tasks_config.generate.name,
            tasks_config.generate.queue, key_set.empty() ? "default" : key_set,
            p.shared_store ? "on" : "off");
  return services;
}

LlmServices::~LlmServices() {
  if (!parts_) return;
  parts_->balancer.reset();
  parts_->transport.reset();
  if (parts_->shared_store) parts_->shared_store->close();
}

}  // namespace celeriac::worker::app
