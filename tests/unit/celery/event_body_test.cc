#include "worker/celery/event_body.h"

#include <gtest/gtest.h>

#include "control_event_captures.h"
#include "worker/celery/iso_time.h"
#include "worker/celery/lamport_clock.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using testing::expectSameShape;

std::chrono::system_clock::time_point epoch(double s) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(s)));
}

EventCommon common(std::uint64_t clock, double timestamp_s) {
  return EventCommon{"research1@vm", 0, 18490, clock, epoch(timestamp_s)};
}

// The captured task-received of rapp.add(2, 3), as our decoder would hand it over.
TaskMessage addMessage() {
  TaskMessage message;
  message.id = "4410d731-67bd-4715-8338-196195ee0f9f";
  message.task = "rapp.add";
  message.root_id = message.id;
  message.argsrepr = "(2, 3)";
  message.kwargsrepr = "{}";
  message.args = json::array({2, 3});
  return message;
}

TEST(EventBodyTest, TaskReceivedMatchesCapture) {
  const json captured = json::parse(testing::kTaskReceivedEvent);
  const json ours = json::parse(taskReceivedEvent(common(7, 1795392027.907631), addMessage()));
  expectSameShape(ours, captured);
  EXPECT_EQ(ours, captured);
}

TEST(EventBodyTest, TaskReceivedOfARetryCarriesEtaAndParent) {
  TaskMessage message;
  message.id = "4b029ddd-9be9-4e2a-9959-3b16f46e17ba";
  message.task = "rapp.flaky";
  message.root_id = message.id;
  message.parent_id = message.id;
  message.retries = 1;
  message.argsrepr = "(1,)";
  message.kwargsrepr = "{}";
  message.eta = parseIsoTime("2026-11-23T00:00:28.927312+00:00");
  const json captured = json::parse(testing::kTaskReceivedRetryEvent);
  EXPECT_EQ(json::parse(taskReceivedEvent(common(19, 1795392027.9342096), message)), captured);
}

TEST(EventBodyTest, TaskReceivedUsesShadowNameAndReprWithoutHeaders) {
  TaskMessage message = addMessage();
  message.shadow = "shown.name";
  message.argsrepr.clear();
  message.kwargsrepr.clear();
  message.kwargs = json{{"x", "y"}};
  message.root_id.clear();
  message.expires = parseIsoTime("2026-11-23T00:00:00Z");
  const json ours = json::parse(taskReceivedEvent(common(1, 0), message));
  EXPECT_EQ(ours["name"], "shown.name");
  EXPECT_EQ(ours["args"], "(2, 3)");
  EXPECT_EQ(ours["kwargs"], "{'x': 'y'}");
  EXPECT_TRUE(ours["root_id"].is_null());
  EXPECT_EQ(ours["expires"], "2026-11-23T00:00:00+00:00");  // isoformat drops .000000
}

TEST(EventBodyTest, TaskLifecycleEventsMatchCaptures) {
  EXPECT_EQ(json::parse(taskStartedEvent(common(8, 1795392027.9077842),
                                         "4410d731-67bd-4715-8338-196195ee0f9f")),
            json::parse(testing::kTaskStartedEvent));
  EXPECT_EQ(json::parse(taskSucceededEvent(common(9, 1795392027.9103322),
                                           "4410d731-67bd-4715-8338-196195ee0f9f", json(5),
                                           std::chrono::duration<double>(0.00237940199986042))),
            json::parse(testing::kTaskSucceededEvent));
  const json failed = json::parse(testing::kTaskFailedEvent);
  EXPECT_EQ(json::parse(taskFailedEvent(
                common(12, 1795392027.9193077), failed["uuid"].get<std::string>(),
                "ExceptionWithTraceback()", failed["traceback"].get<std::string>())),
            failed);
  const json retried = json::parse(testing::kTaskRetriedEvent);
  EXPECT_EQ(json::parse(taskRetriedEvent(
                common(18, 1795392027.9338195), retried["uuid"].get<std::string>(),
                "Retry(Retry(...), KeyError('k0'), 1)", retried["traceback"].get<std::string>())),
            retried);
  EXPECT_EQ(json::parse(taskRevokedEvent(common(45, 1795392029.9602497),
                                         "f07925c2-bcae-433f-af5c-2867f0123ed2", false,
                                         std::nullopt, true)),
            json::parse(testing::kTaskRevokedEvent));
}

TEST(EventBodyTest, ResultIsAReprString) {
  const json ours = json::parse(taskSucceededEvent(common(1, 0), "id", json{{"a", nullptr}},
                                                   std::chrono::duration<double>(1.5)));
  EXPECT_EQ(ours["result"], "{'a': None}");
  EXPECT_EQ(ours["runtime"], 1.5);
}

TEST(EventBodyTest, RevokedByTerminateCarriesSignum) {
  const json ours = json::parse(taskRevokedEvent(common(1, 0), "id", true, 15, false));
  EXPECT_EQ(ours["terminated"], true);
  EXPECT_EQ(ours["signum"], 15);
  EXPECT_EQ(ours["expired"], false);
}

TEST(EventBodyTest, RejectedCarriesRequeue) {
  const json ours = json::parse(taskRejectedEvent(common(1, 0), "id", true));
  EXPECT_EQ(ours["type"], "task-rejected");
  EXPECT_EQ(ours["requeue"], true);
  EXPECT_EQ(ours["uuid"], "id");
}

TEST(EventBodyTest, WorkerEventsHaveTheCapturedShape) {
  WorkerStatus status;
  status.loadavg = {0.0, 0.0, 0.061};
  status.sw_ver = "0.1.0";
  const json online =
      json::parse(workerEvent(common(1, 1795392023.1280997), WorkerEvent::kOnline, status));
  expectSameShape(online, json::parse(testing::kWorkerOnlineEvent));
  EXPECT_EQ(online["type"], "worker-online");
  EXPECT_EQ(online["freq"], 2.0);
  EXPECT_TRUE(online["freq"].is_number_float());
  EXPECT_EQ(online["loadavg"], json::parse("[0.0, 0.0, 0.07]"));
  EXPECT_EQ(online["sw_ident"], "celeriac");
  EXPECT_EQ(online["sw_ver"], "0.1.0");
  EXPECT_EQ(online["sw_sys"], "Linux");

  status.processed = 13;
  expectSameShape(json::parse(workerEvent(common(3, 0), WorkerEvent::kHeartbeat, status)),
                  json::parse(testing::kWorkerHeartbeatEvent));
  const json offline = json::parse(workerEvent(common(121, 0), WorkerEvent::kOffline, status));
  expectSameShape(offline, json::parse(testing::kWorkerOfflineEvent));
  EXPECT_EQ(offline["processed"], 13);
  EXPECT_EQ(offline["type"], "worker-offline");
}

TEST(EventBodyTest, PythonSoftwareInfoCanStillBeSent) {
  WorkerStatus status;
  status.sw_ident = "py-celery";
  status.sw_ver = "5.2.6";
  status.loadavg = {0.0, 0.0, 0.07 - 1e-9};
  json ours = json::parse(workerEvent(common(1, 1795392023.1280997), WorkerEvent::kOnline, status));
  EXPECT_EQ(ours, json::parse(testing::kWorkerOnlineEvent));
}

TEST(EventBodyTest, LoadAverageIsCeiledToTwoDecimalsLikeCelery) {
  // celery.utils.sysinfo: ceil(l * 1e2) / 1e2; 0.07 * 100 is 7.000000000000001 in
  // binary floating point, so Python itself reports 0.08 for 0.07.
  EXPECT_EQ(celeryLoadAverage({0.061, 1.0, 0.07}), (std::array<double, 3>{0.07, 1.0, 0.08}));
  EXPECT_EQ(celeryLoadAverage({0.0, -0.0, 2.004}), (std::array<double, 3>{0.0, 0.0, 2.01}));
}

TEST(EventBodyTest, RoutingKeyReplacesDashes) {
  EXPECT_EQ(eventRoutingKey("task-succeeded"), "task.succeeded");
  EXPECT_EQ(eventRoutingKey("worker-heartbeat"), "worker.heartbeat");
  EXPECT_EQ(eventRoutingKey("task-multi"), "task.multi");
}

TEST(EventBodyTest, UtcoffsetIsHoursWestWithPythonFloorDivision) {
  using std::chrono::hours;
  using std::chrono::minutes;
  EXPECT_EQ(utcoffsetHours(hours(0)), 0);
  EXPECT_EQ(utcoffsetHours(hours(2)), -2);                  // CEST: time.altzone = -7200
  EXPECT_EQ(utcoffsetHours(hours(-5)), 5);                  // EST: time.timezone = 18000
  EXPECT_EQ(utcoffsetHours(hours(5) + minutes(30)), -6);    // -19800 // 3600 == -6
  EXPECT_EQ(utcoffsetHours(-(hours(3) + minutes(30))), 3);  // 12600 // 3600 == 3
}

TEST(EventBodyTest, CommonFieldsComeFromTheCaller) {
  const json body = json::parse(
      eventBody("custom-thing", EventCommon{"w@h", -2, 7, 99, epoch(12.5)}, json{{"x", 1}}));
  EXPECT_EQ(body, json::parse(R"({"type": "custom-thing", "hostname": "w@h", "utcoffset": -2,
                                  "pid": 7, "clock": 99, "timestamp": 12.5, "x": 1})"));
}

TEST(LamportClockTest, ForwardAndAdjustFollowKombu) {
  LamportClock clock;
  EXPECT_EQ(clock.value(), 0u);
  EXPECT_EQ(clock.forward(), 1u);
  EXPECT_EQ(clock.adjust(10), 11u);  // max(1, 10) + 1
  EXPECT_EQ(clock.adjust(3), 12u);   // max(11, 3) + 1
  EXPECT_EQ(clock.adjust(0), 13u);   // header absent: kombu adjusts with 0
  EXPECT_EQ(clock.value(), 13u);
  EXPECT_EQ(LamportClock(41).forward(), 42u);
}

}  // namespace
}  // namespace celeriac::worker::celery
