#include "worker/app/llm_services.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "balancer/balancer.h"
#include "balancer/config_loader.h"
#include "worker/app/log_redactor.h"
#include "worker/http/curl_transport.h"
#include "worker/http/h2_transport.h"
#include "worker/http/split_transport.h"
#include "worker/redis/key_set_lease.h"
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
  std::unique_ptr<http::CurlTransport> curl;
  std::unique_ptr<http::H2Transport> h2;
  std::unique_ptr<http::SplitTransport> transport;
  std::unique_ptr<balancer::Balancer> balancer;
};

common::Result<std::unique_ptr<LlmServices>> LlmServices::create(const WorkerConfig& config,
                                                                 uv::UvDispatcher& dispatcher,
                                                                 tasks::TaskRegistry& registry) {
  const balancer::EnvMap env = envMap(config.env);
  const bool from_env = config.llm_config.empty() && env.contains("LLM_ENDPOINTS");
  if (config.llm_config.empty() && !from_env) return std::unique_ptr<LlmServices>();
  auto log = spdlog::default_logger();

  balancer::BalancerConfig balancer_config;
  if (from_env) {
    auto loaded = balancer::ConfigLoader::fromEnv(env);
    if (!loaded) return loaded.error();
    balancer_config = std::move(*loaded);
  } else {
    auto text = readFile(config.llm_config);
    if (!text) return common::Error{"--llm-config: cannot read " + config.llm_config};
    auto loaded = balancer::ConfigLoader::fromYaml(*text);
    // Which file, then the field and what was expected (the schema's words).
    if (!loaded) return loaded.error().in("--llm-config " + config.llm_config);
    balancer_config = std::move(*loaded);
  }
  std::unique_ptr<LlmServices> services(new LlmServices());
  services->dispatcher_ = &dispatcher;
  KeySet& chosen = services->key_set_;
  if (!balancer_config.key_sets.empty()) {
    std::size_t index = 0;
    const auto pinned = balancer::ConfigLoader::pinnedKeySet(balancer_config, env);
    if (!pinned) return pinned.error();
    if (*pinned) {
      index = **pinned;
      chosen.pinned = true;
    } else {
      std::vector<std::string> names;
      for (const auto& set : balancer_config.key_sets) names.push_back(set.name);
      services->lease_owner_ = config.hostname + ":" + std::to_string(getpid());
      services->lease_ttl_ = config.key_set_lease_ttl;
      services->lease_redis_ = config.backend;
      const redis::KeySetClaim claim = redis::claimKeySet(
          config.backend, names, services->lease_owner_, config.key_set_lease_ttl);
      index = claim.index;
      chosen.leased = claim.leased;
      chosen.shared = claim.shared;
      if (claim.shared) {
        log->error("{}", claim.detail);
      } else {
        log->info("{}", claim.detail);
      }
    }
    chosen.name = balancer::ConfigLoader::applyKeySet(balancer_config, index);
  }
  const std::string& key_set = chosen.name;

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
  p.curl = std::make_unique<http::CurlTransport>(dispatcher);
  http::H2TransportOptions h2_options;
  h2_options.first_id = http::SplitTransport::kH2FirstId;
  p.h2 = std::make_unique<http::H2Transport>(dispatcher, h2_options);
  p.transport = std::make_unique<http::SplitTransport>(*p.curl, *p.h2);
  auto made = balancer::Balancer::create(
      std::move(balancer_config), dispatcher, *p.transport,
      // Every key the balancer resolves is masked in logs and stored errors from then on.
      redactingResolver(balancer::ConfigLoader::secretResolver(env, &readFile)), 0x5eed,
      p.shared_store.get());
  if (!made) return made.error();
  p.balancer = std::move(*made);

  const auto loaded_tasks =
      config.tasks_config.empty()
          ? common::Result<tasks::LlmTasksConfig>(tasks::LlmTasksConfig::defaults(config.data_dir))
          : tasks::loadLlmTasksConfig(config.tasks_config, config.data_dir);
  if (!loaded_tasks) return loaded_tasks.error();
  const tasks::LlmTasksConfig& tasks_config = *loaded_tasks;
  if (auto registered = tasks::registerLlmTasks(registry, *p.balancer, tasks_config); !registered) {
    return registered.error();
  }
  services->queues_ = {tasks_config.analyze.queue, tasks_config.generate.queue};
  services->task_queues_ = {{tasks_config.analyze.name, tasks_config.analyze.queue},
                            {tasks_config.generate.name, tasks_config.generate.queue}};
  log->info("LLM tasks registered: {} on {}, {} on {} (key set {}, shared buckets {})",
            tasks_config.analyze.name, tasks_config.analyze.queue, tasks_config.generate.name,
            tasks_config.generate.queue, key_set.empty() ? "default" : key_set,
            p.shared_store ? "on" : "off");
  return services;
}

balancer::Balancer& LlmServices::balancer() { return *parts_->balancer; }

void LlmServices::startLeaseRenewal(RenewLease renew) {
  if (!key_set_.leased) return;
  renew_ = std::move(renew);
  renewLater();
}

// The next renewal is scheduled when this one is answered, so a Redis outage queues
// one renewal (the store retries it), not one per period.
void LlmServices::renewLater() {
  renew_timer_ = dispatcher_->schedule(lease_ttl_ / 3, [this] {
    renew_timer_ = 0;
    renew_(redis::keySetLeaseKey(key_set_.name), lease_owner_, lease_ttl_,
           [this](long long status) {
             if (status == 0 && key_set_.leased) {
               // Another replica took the set after our lease expired (this process was
               // stopped or cut off from Redis for longer than the TTL): both now use it.
               key_set_.leased = false;
               key_set_.shared = true;
               spdlog::error("key set {} lease lost to another replica: its limits are now shared",
                             key_set_.name);
             } else if (status != 0 && !key_set_.leased) {
               key_set_.leased = true;
               key_set_.shared = false;
               spdlog::info("key set {} leased again", key_set_.name);
             }
             renewLater();
           });
  });
}

LlmServices::~LlmServices() {
  if (renew_timer_ != 0) dispatcher_->cancel(renew_timer_);
  // At exit, after the loop stopped: the next replica may take the set at once.
  if (key_set_.leased) redis::releaseKeySet(lease_redis_, key_set_.name, lease_owner_);
  if (!parts_) return;
  parts_->balancer.reset();
  parts_->transport.reset();
  if (parts_->shared_store) parts_->shared_store->close();
}

}  // namespace celeriac::worker::app
