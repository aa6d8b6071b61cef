#include "worker/app/worker_config.h"

#include <gtest/gtest.h>

#include <vector>

namespace celeriac::worker::app {
namespace {

ParseOutcome parse(std::vector<const char*> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "worker");
  return parseWorkerArgs(static_cast<int>(args.size()), args.data(), env, "vm.example.org");
}

TEST(WorkerConfigTest, FlagsNamedLikeCeleryWorker) {
  auto out = parse({"-Q", "gpt5-analyzer,response-generator", "-c", "200", "--prefetch-multiplier",
                    "2", "-n", "w1@%h", "-l", "warning"});
  ASSERT_TRUE(out.config) << out.message;
  const WorkerConfig& c = *out.config;
  ASSERT_EQ(c.topology.queues.size(), 2u);
  EXPECT_EQ(c.topology.queues[0].name, "gpt5-analyzer");
  EXPECT_EQ(c.topology.queues[1].name, "response-generator");
  EXPECT_EQ(c.concurrency, 200u);
  EXPECT_EQ(c.prefetch(), 400);
  EXPECT_EQ(c.hostname, "w1@vm.example.org");
  EXPECT_EQ(c.loglevel, "warning");
  EXPECT_TRUE(c.acks_late);
}

TEST(WorkerConfigTest, DefaultsMatchCeleryAndTheIssue) {
  auto out = parse({});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->topology.queues.at(0).name, "celery");
  EXPECT_EQ(out.config->prefetch(), 400);                    // 100 x 4
  EXPECT_EQ(out.config->hostname, "celery@vm.example.org");  // probes written for Celery
  EXPECT_EQ(out.config->brokers.at(0).vhost, "/");
  EXPECT_EQ(out.config->result_expires.count(), 86400);
}

TEST(WorkerConfigTest, ACeleryWorkerArgumentLineIsAccepted) {
  auto out = parse({"-E",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-O",
                    "fair",
                    "-Q",
                    "q",
                    "-c",
                    "100",
                    "-A",
                    "proj",
                    "-P",
                    "prefork",
                    "--max-tasks-per-child",
                    "50",
                    "--pidfile",
                    "/tmp/w.pid",
                    "--logfile",
                    "/tmp/w.log",
                    "--statedb",
                    "/tmp/w.db",
                    "--time-limit",
                    "300",
                    "--soft-time-limit",
                    "240.5"});
  ASSERT_TRUE(out.config) << out.message;
  const WorkerConfig& c = *out.config;
  EXPECT_TRUE(c.task_events);
  EXPECT_FALSE(c.worker_heartbeat);
  EXPECT_EQ(c.pidfile, "/tmp/w.pid");
  EXPECT_EQ(c.logfile, "/tmp/w.log");
  EXPECT_EQ(c.statedb, "/tmp/w.db");
  EXPECT_EQ(c.time_limit, 300.0);
  EXPECT_EQ(c.soft_time_limit, 240.5);
  // Each flag without a meaning for one event loop says so once.
  EXPECT_EQ(c.notices.size(), 6u);
  for (const auto& n : c.notices) EXPECT_NE(n.find("accepted"), std::string::npos) << n;
}

TEST(WorkerConfigTest, WithoutCeleryFlagsEventsAreOffAndHeartbeatsOn) {
  auto out = parse({});
  ASSERT_TRUE(out.config);
  EXPECT_FALSE(out.config->task_events);
  EXPECT_TRUE(out.config->worker_heartbeat);
  EXPECT_EQ(out.config->event_heartbeat_interval, std::chrono::seconds(2));
  EXPECT_TRUE(out.config->notices.empty());
}

TEST(WorkerConfigTest, AutoscaleHoldsItsMaximumAndBadValuesAreErrors) {
  auto out = parse({"--autoscale", "40,3"});
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->concurrency, 40u);
  EXPECT_EQ(out.config->autoscale_min, 3u);
  ASSERT_EQ(out.config->notices.size(), 1u);
  EXPECT_FALSE(parse({"-c", "4"}).config->autoscale_min);  // no --autoscale: no autoscaler
  for (const char* bad : {"3,40", "x", "0", "10,", ",3"}) {
    auto b = parse({"--autoscale", bad});
    EXPECT_FALSE(b.config) << bad;
    EXPECT_NE(b.message.find("--autoscale"), std::string::npos) << b.message;
  }
}

TEST(WorkerConfigTest, ATrulyUnknownFlagIsStillAnError) {
  auto out = parse({"--without-anything"});
  EXPECT_FALSE(out.config);
  EXPECT_NE(out.message.find("--without-anything"), std::string::npos) << out.message;
  EXPECT_FALSE(parse({"-O", "fastest"}).config);
}

TEST(WorkerConfigTest, MaxMessageSizeTakesBytesOrAUnit) {
  EXPECT_EQ(parse({}).config->max_message_size, std::size_t{16} << 20);
  EXPECT_EQ(parse({"--max-message-size", "1000"}).config->max_message_size, 1000u);
  EXPECT_EQ(parse({"--max-message-size", "4MiB"}).config->max_message_size, std::size_t{4} << 20);
  EXPECT_FALSE(parse({"--max-message-size", "lots"}).config);
}

TEST(WorkerConfigTest, EnvironmentGivesBrokerAndBackendAndFlagsWin) {
  std::map<std::string, std::string> env = {{"CELERY_BROKER_URL", "amqp://u:p@envhost:5673/v"},
                                            {"CELERY_RESULT_BACKEND", "redis://envredis:6390/2"}};
  auto out = parse({}, env);
  ASSERT_TRUE(out.config) << out.message;
  EXPECT_EQ(out.config->brokers.at(0).host, "envhost");
  EXPECT_EQ(out.config->backend.host, "envredis");
  EXPECT_EQ(out.config->backend.db, 2);
  auto flag = parse({"--broker", "amqp://u:p@flaghost//"}, env);
  ASSERT_TRUE(flag.config);
  EXPECT_EQ(flag.config->brokers.at(0).host, "flaghost");
}

TEST(WorkerConfigTest, HostnamePlaceholdersExpandAsInCelery) {
  EXPECT_EQ(expandHostname("a@%h", "vm.example.org"), "a@vm.example.org");
  EXPECT_EQ(expandHostname("a@%n", "vm.example.org"), "a@vm");
  EXPECT_EQ(expandHostname("a@%d", "vm.example.org"), "a@example.org");
  EXPECT_EQ(expandHostname("bare", "vm"), "bare@vm");
}

TEST(WorkerConfigTest, BadInputGivesAClearErrorAndNonZeroExit) {
  auto bad_c = parse({"-c", "0"});
  EXPECT_FALSE(bad_c.config);
  EXPECT_NE(bad_c.exit_code, 0);
  auto bad_broker = parse({"--broker", "amqp://u:hunter2@h:99999/"});
  EXPECT_FALSE(bad_broker.config);
  EXPECT_NE(bad_broker.message.find("--broker"), std::string::npos);
  EXPECT_EQ(bad_broker.message.find("hunter2"), std::string::npos);
  auto no_queue = parse({"-Q", " , "});
  EXPECT_FALSE(no_queue.config);
  auto bad_level = parse({"-l", "loud"});
  EXPECT_FALSE(bad_level.config);
  auto quorum = parse({"--queue-type", "quorum", "--queue-max-priority", "10"});
  ASSERT_TRUE(quorum.config);
  EXPECT_TRUE(quorum.config->topology.queues[0].quorum);
  EXPECT_EQ(quorum.config->topology.queues[0].max_priority.value_or(0), 10);
}

TEST(WorkerConfigTest, HelpExitsZeroWithUsage) {
  auto help = parse({"--help"});
  EXPECT_FALSE(help.config);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.message.find("--concurrency"), std::string::npos);
}

}  // namespace
}  // namespace celeriac::worker::app

namespace celeriac::worker::app {
namespace {

TEST(WorkerConfigTest, DelayTiersParseSortAndRejectNonsense) {
  auto out = parse({"--delay-tiers", "2m,5s, 30s", "--eta-hold-limit", "20"});
  ASSERT_TRUE(out.config) << out.message;
  const auto& tiers = out.config->topology.delay_tiers;
  ASSERT_EQ(tiers.size(), 3u);
  EXPECT_EQ(tiers[0].name, "5s");
  EXPECT_EQ(tiers[2].ttl.count(), 120000);
  EXPECT_EQ(tiers[0].exchange(), "celeriac.delay.5s");
  EXPECT_EQ(out.config->eta_hold_limit.count(), 20);
  EXPECT_FALSE(parse({"--delay-tiers", "5 parsecs"}).config);
  EXPECT_FALSE(parse({"--delay-tiers", "0s"}).config);
  EXPECT_EQ(parse({}).config->topology.delay_tiers.size(), 5u);
}

TEST(WorkerConfigTest, BadValueMessagesNameTheFlagThenWhatIsWrong) {
  const std::pair<std::vector<const char*>, std::string> cases[] = {
      {{"--broker", "redis://h"},
       "--broker: broker URL must start with amqp:// (amqps and other transports are not "
       "supported)"},
      {{"--broker", " ; "}, "--broker: no broker URL given"},
      {{"--result-backend", "redis://h:0/0"},
       "--result-backend: result backend URL: port must be a number from 1 to 65535"},
      {{"--delay-tiers", "5 parsecs"},
       "--delay-tiers: delay tier '5 parsecs' must be a positive number with ms, s, m or h"},
      {{"--autoscale", "3,40"},
       "--autoscale: expected MAX,MIN with 1 <= MAX and MIN <= MAX, got '3,40'"},
  };
  for (const auto& [args, message] : cases) {
    auto out = parse(args);
    EXPECT_FALSE(out.config) << message;
    EXPECT_EQ(out.exit_code, 2) << message;
    EXPECT_EQ(out.message, message);
  }
}

}  // namespace
}  // namespace celeriac::worker::app

namespace celeriac::worker::app {
namespace {

TEST(WorkerConfigTest, TaskRoutesAreGlobEqualsQueuePairs) {
  auto out = parse({"--task-routes", "rules.*=rule-retriever, report=reports"});
  ASSERT_TRUE(out.config) << out.message;
  ASSERT_EQ(out.config->task_routes.size(), 2u);
  EXPECT_EQ(out.config->task_routes[0].first, "rules.*");
  EXPECT_EQ(out.config->task_routes[1].second, "reports");
  EXPECT_FALSE(parse({"--task-routes", "no-equals"}).config);
  EXPECT_FALSE(parse({"--task-routes", "=q"}).config);
}

}  // namespace
}  // namespace celeriac::worker::app
