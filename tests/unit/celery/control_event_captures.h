#pragma once
// Test data: excerpts of captures from real Celery 5.2.6: pidbox requests and replies
// (remote control) and events of a worker run with -E. Only the bodies, copied
// verbatim (tracebacks shortened). They live here because schemas/fixtures/celery does
// not carry these captures.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace celeriac::worker::celery::testing {

// Request bodies as `celery inspect` / `celery control` published them.
inline constexpr const char* kPingRequest =
    R"J({"method": "ping", "arguments": {}, "destination": null, "pattern": null, "matcher": null, "ticket": "14cd5122-ecd7-4bb0-8ee7-2f90690a292d", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "3241cc50-0ac2-3eeb-a907-88c1a9e13a31"}})J";
inline constexpr const char* kPingDestinationRequest =
    R"J({"method": "ping", "arguments": {}, "destination": ["research1@vm"], "pattern": null, "matcher": null, "ticket": "06b81728-e2db-413e-9103-9b12ba283a60", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "55d9665a-1f44-3e3d-bb11-59479d189a4d"}})J";
inline constexpr const char* kRevokeRequest =
    R"J({"method": "revoke", "arguments": {"task_id": "research-revoked-id-1", "terminate": false, "signal": "SIGTERM"}, "destination": null, "pattern": null, "matcher": null, "ticket": "9199460c-3aa2-4290-b310-69c50cc8f54b", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "8449d60b-f000-39fb-afce-3e0ccc9557ef"}})J";
inline constexpr const char* kRateLimitRequest =
    R"J({"method": "rate_limit", "arguments": {"task_name": "rapp.add", "rate_limit": "10/m"}, "destination": null, "pattern": null, "matcher": null, "ticket": "062009ab-a7d8-4e0d-afff-ae7e28529e1b", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "ae599ed8-b436-3f18-a885-99b5edecbb50"}})J";

// Replies as the client received them.
inline constexpr const char* kPingReply = R"J({"research1@vm": {"ok": "pong"}})J";
inline constexpr const char* kRevokeReply =
    R"J({"research1@vm": {"ok": "tasks research-revoked-id-1 flagged as revoked"}})J";
inline constexpr const char* kHeartbeatReply = R"J({"research1@vm": null})J";

// Events of a worker run with -E: one body of each type.
inline constexpr const char* kWorkerOnlineEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 1, "freq": 2.0, "active": 0, "processed": 0, "loadavg": [0.0, 0.0, 0.07], "sw_ident": "py-celery", "sw_ver": "5.2.6", "sw_sys": "Linux", "timestamp": 1795392023.1280997, "type": "worker-online"})J";
inline constexpr const char* kWorkerHeartbeatEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 3, "freq": 2.0, "active": 0, "processed": 0, "loadavg": [0.0, 0.0, 0.07], "sw_ident": "py-celery", "sw_ver": "5.2.6", "sw_sys": "Linux", "timestamp": 1795392025.133756, "type": "worker-heartbeat"})J";
inline constexpr const char* kWorkerOfflineEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 121, "freq": 2.0, "active": 0, "processed": 13, "loadavg": [0.0, 0.0, 0.06], "sw_ident": "py-celery", "sw_ver": "5.2.6", "sw_sys": "Linux", "timestamp": 1795392101.663933, "type": "worker-offline"})J";
inline constexpr const char* kTaskReceivedEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 7, "uuid": "4410d731-67bd-4715-8338-196195ee0f9f", "name": "rapp.add", "args": "(2, 3)", "kwargs": "{}", "root_id": "4410d731-67bd-4715-8338-196195ee0f9f", "parent_id": null, "retries": 0, "eta": null, "expires": null, "timestamp": 1795392027.907631, "type": "task-received"})J";
inline constexpr const char* kTaskReceivedRetryEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 19, "uuid": "4b029ddd-9be9-4e2a-9959-3b16f46e17ba", "name": "rapp.flaky", "args": "(1,)", "kwargs": "{}", "root_id": "4b029ddd-9be9-4e2a-9959-3b16f46e17ba", "parent_id": "4b029ddd-9be9-4e2a-9959-3b16f46e17ba", "retries": 1, "eta": "2026-11-23T00:00:28.927312+00:00", "expires": null, "timestamp": 1795392027.9342096, "type": "task-received"})J";
inline constexpr const char* kTaskStartedEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 8, "uuid": "4410d731-67bd-4715-8338-196195ee0f9f", "timestamp": 1795392027.9077842, "type": "task-started"})J";
inline constexpr const char* kTaskSucceededEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 9, "uuid": "4410d731-67bd-4715-8338-196195ee0f9f", "result": "5", "runtime": 0.00237940199986042, "timestamp": 1795392027.9103322, "type": "task-succeeded"})J";
inline constexpr const char* kTaskFailedEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 12, "uuid": "1f2c7a2a-1d64-4c1f-a114-7660c56ebb1b", "exception": "ExceptionWithTraceback()", "traceback": "Traceback (most recent call last):\n  ...\nrapp.MyError: boom\n", "timestamp": 1795392027.9193077, "type": "task-failed"})J";
inline constexpr const char* kTaskRetriedEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 18, "uuid": "4b029ddd-9be9-4e2a-9959-3b16f46e17ba", "exception": "Retry(Retry(...), KeyError('k0'), 1)", "traceback": "Traceback (most recent call last):\n  ...\ncelery.exceptions.Retry: Retry in 1s: KeyError('k0')\n", "timestamp": 1795392027.9338195, "type": "task-retried"})J";
inline constexpr const char* kTaskRevokedEvent =
    R"J({"hostname": "research1@vm", "utcoffset": 0, "pid": 18490, "clock": 45, "uuid": "f07925c2-bcae-433f-af5c-2867f0123ed2", "terminated": false, "signum": null, "expired": true, "timestamp": 1795392029.9602497, "type": "task-revoked"})J";

// The JSON type a Python receiver would see: ints of either sign are one type.
inline std::string pythonType(const nlohmann::json& value) {
  if (value.is_number_integer()) return "int";
  if (value.is_number_float()) return "float";
  return value.type_name();
}

// Same keys, and the same Python type for each (null on one side matches anything on
// the other, since a capture shows null where another run would show a value).
inline void expectSameShape(const nlohmann::json& ours, const nlohmann::json& captured) {
  ASSERT_TRUE(ours.is_object());
  ASSERT_TRUE(captured.is_object());
  for (const auto& [key, value] : captured.items()) {
    ASSERT_TRUE(ours.contains(key)) << "missing key " << key;
    if (value.is_null() || ours.at(key).is_null()) continue;
    EXPECT_EQ(pythonType(ours.at(key)), pythonType(value)) << "type of " << key;
    if (value.is_object()) expectSameShape(ours.at(key), value);
  }
  for (const auto& [key, value] : ours.items()) {
    EXPECT_TRUE(captured.contains(key)) << "extra key " << key;
  }
}

}  // namespace celeriac::worker::celery::testing
