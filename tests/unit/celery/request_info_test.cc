#include "worker/celery/request_info.h"

#include <gtest/gtest.h>

#include "control_event_captures.h"
#include "worker/celery/iso_time.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

TaskMessage message() {
  TaskMessage m;
  m.id = "4410d731-67bd-4715-8338-196195ee0f9f";
  m.task = "rapp.add";
  m.argsrepr = "(2, 3)";
  m.kwargsrepr = "{}";
  m.args = json::array({2, 3});
  m.exchange = "";
  m.routing_key = "celery";
  m.priority = 0;
  return m;
}

// Request.info() of Celery 5.2.6 (celery/worker/request.py) for a running task, with
// the types a captured `inspect active` reply showed.
const char* kActiveInfo = R"({
  "id": "4410d731-67bd-4715-8338-196195ee0f9f", "name": "rapp.add", "args": [2, 3],
  "kwargs": {}, "type": "rapp.add", "hostname": "research1@vm",
  "time_start": 1795392027.5, "acknowledged": true,
  "delivery_info": {"exchange": "", "routing_key": "celery", "priority": 0,
                    "redelivered": false},
  "worker_pid": 18490})";

TEST(RequestInfoTest, RunningTaskMatchesCeleryInfo) {
  RequestState state;
  state.hostname = "research1@vm";
  state.time_start =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1795392027500));
  state.acknowledged = true;
  state.worker_pid = 18490;
  const json info = requestInfo(message(), state);
  testing::expectSameShape(info, json::parse(kActiveInfo));
  EXPECT_EQ(info, json::parse(kActiveInfo));
}

TEST(RequestInfoTest, ReservedTaskHasNullStartAndPid) {
  TaskMessage m = message();
  m.priority.reset();
  m.redelivered = true;
  const json info = requestInfo(m, RequestState{"w@h", std::nullopt, false, std::nullopt});
  EXPECT_TRUE(info["time_start"].is_null());
  EXPECT_TRUE(info["worker_pid"].is_null());
  EXPECT_EQ(info["acknowledged"], false);
  EXPECT_TRUE(info["delivery_info"]["priority"].is_null());
  EXPECT_EQ(info["delivery_info"]["redelivered"], true);
  testing::expectSameShape(info, json::parse(kActiveInfo));
}

TEST(RequestInfoTest, ShadowNameIsTheNameAndTaskTheType) {
  TaskMessage m = message();
  m.shadow = "shown";
  const json info = requestInfo(m, RequestState{"w@h", std::nullopt, false, std::nullopt});
  EXPECT_EQ(info["name"], "shown");
  EXPECT_EQ(info["type"], "rapp.add");
}

TEST(RequestInfoTest, SafeGivesReprStrings) {
  TaskMessage m = message();
  const RequestState state{"w@h", std::nullopt, false, std::nullopt};
  EXPECT_EQ(requestInfo(m, state, true)["args"], "(2, 3)");
  EXPECT_EQ(requestInfo(m, state, true)["kwargs"], "{}");
  m.argsrepr.clear();
  m.kwargsrepr.clear();
  m.kwargs = json{{"k", true}};
  EXPECT_EQ(requestInfo(m, state, true)["args"], "(2, 3)");
  EXPECT_EQ(requestInfo(m, state, true)["kwargs"], "{'k': True}");
}

TEST(RequestInfoTest, ScheduledEntryHasIsoEtaAndTimerPriority) {
  TaskMessage m = message();
  m.priority = 9;  // the message priority stays inside delivery_info
  m.eta = parseIsoTime("2026-11-23T00:00:28.927312+00:00");
  const RequestState state{"w@h", std::nullopt, false, std::nullopt};
  const json entry = scheduledEntry(m, state);
  EXPECT_EQ(entry["eta"], "2026-11-23T00:00:28.927312+00:00");
  EXPECT_EQ(entry["priority"], 6);
  EXPECT_EQ(entry["request"], requestInfo(m, state));
  EXPECT_EQ(entry["request"]["delivery_info"]["priority"], 9);
  m.eta = parseIsoTime("2026-11-23T00:00:28Z");
  EXPECT_EQ(scheduledEntry(m, state)["eta"], "2026-11-23T00:00:28+00:00");
}

}  // namespace
}  // namespace celeriac::worker::celery
