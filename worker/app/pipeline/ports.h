#pragma once
// PipelinePorts: everything the TaskPipeline asks of the broker and Redis, as functions
// the application wires to AmqpConnection and ResultStore (worker_app.cc) and the tests
// to fakes. The pipeline and its parts do no I/O of their own.
// What not: no retries or reconnects (the connections do that behind these functions).
// Ownership: plain std::function values, copied into the TaskPipeline; `events` is
// borrowed and must outlive it. Every callback is called on the loop thread.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "worker/amqp/amqp_types.h"
#include "worker/app/task_events.h"

namespace celeriac::worker::app {

// What the result store says after a chord member's part was recorded (chord_part below).
struct ChordPartResult {
  bool completed = false;            // this part completed the header
  std::vector<std::string> members;  // when completed: the parts, in header order
  // A complex header: Python saved its GroupResult; its leaves' result documents.
  std::optional<std::string> saved_group{};
  std::vector<std::optional<std::string>> saved_docs{};
};

struct PipelinePorts {
  std::function<void(amqp::DeliveryRef)> ack;
  std::function<void(amqp::DeliveryRef, bool requeue)> reject;
  std::function<void(std::uint16_t)> set_prefetch;
  // Stores a result document; `done` fires once it is durably in Redis.
  std::function<void(std::string key, std::string document, std::function<void()> done)> store;
  // False while results cannot be written (Redis down or backlog full).
  std::function<bool()> store_accepting;
  // Poison detection: counts one more start of a redelivered message under `key` and
  // reports the count (Redis INCR); `forget_starts` drops the count once it finished.
  // Unset: redelivered messages simply run.
  std::function<void(std::string key, std::function<void(long long starts)>)> count_start;
  std::function<void(std::string key)> forget_starts;
  // Publishes with a broker confirm (parked copies, retries, canvas follow-ups). Unset:
  // ETA tasks are always held, a retry fails the task and no canvas follow-up goes out.
  std::function<void(amqp::OutgoingMessage, std::function<void(bool confirmed)>)> publish;
  // Revoked task ids (remote control): such a task is stored REVOKED and acked, on
  // arrival and again when it would start. Unset: nothing is revoked.
  std::function<bool(const std::string& task_id)> is_revoked;
  // Chords on Redis (pipeline/chords.h): records one member's part atomically and
  // says whether it completed the header; writes a chord's size before its header goes
  // out. Unset: chord membership is ignored (tests without Redis).
  std::function<void(std::string group_id, std::string score, std::string part,
                     std::function<void(ChordPartResult)>)>
      chord_part;
  std::function<void(std::string group_id, std::int64_t size, std::function<void()>)>
      set_chord_size;
  // A complex chord header's leaves read again (join_native() waiting): their result
  // documents (nullopt: none yet), the chord's keys deleted once every one succeeded.
  std::function<void(std::string group_id, std::vector<std::string> task_ids,
                     std::function<void(std::vector<std::optional<std::string>>)>)>
      fetch_chord_leaves;
  // Told about each task as it goes (Celery's task-* events). Null: nobody listens.
  TaskEventSink* events = nullptr;
};

}  // namespace celeriac::worker::app
