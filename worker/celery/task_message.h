#pragma once
// TaskMessage: one Celery task request, decoded and validated, protocol independent.
//
// What for: the typed form of a task message (protocol v2 headers + body, or a v1 /
// hybrid body mapped onto the same fields) that the pipeline, the task handlers, the
// canvas and the result builders read. Field meanings are Celery's (celery/app/amqp.py,
// as_task_v2).
// What not: no behaviour, no I/O; produced only by decodeMessage() (message_decoder.h)
// or by tests. Canvas signatures (callbacks, chain, ...) stay raw JSON here: validating
// and publishing them is the canvas code's job.
// Ownership: a plain value type; no thread affinity.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

// Header `timelimit` is [hard, soft] on the wire (Celery's docs say the
// opposite). A value of 0 means "no limit", as in Python (falsy).
struct TimeLimits {
  std::optional<double> hard_s;
  std::optional<double> soft_s;
  friend bool operator==(const TimeLimits&, const TimeLimits&) = default;
};

struct TaskMessage {
  int protocol = 2;                // 1 for a v1 dict body; hybrid messages count as 2
  std::string id;                  // never empty after a successful decode
  std::string task;                // registered name; dispatch on this, never on shadow
  std::string shadow;              // display name for logs/events; empty when absent
  std::string root_id;             // empty when the sender gave none (v1): treat the task as root
  std::string parent_id;           // empty when absent or null
  std::string group_id;            // header `group` (v1: `group` or the old `taskset`)
  std::optional<int> group_index;  // position in a chord header
  int retries = 0;                 // absent or null on the wire -> 0
  std::optional<std::chrono::system_clock::time_point> eta;
  std::optional<std::chrono::system_clock::time_point> expires;
  TimeLimits time_limits;
  std::optional<bool> ignore_result;  // nullopt: use the task's default
  std::string origin;
  std::string argsrepr;
  std::string kwargsrepr;
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json kwargs = nlohmann::json::object();
  // embed: each either null or the wire value as sent.
  nlohmann::json callbacks = nullptr;  // array of signature dicts (link)
  nlohmann::json errbacks = nullptr;   // array of signature dicts (link_error)
  nlohmann::json chain = nullptr;      // array, REVERSED: next step is the last element
  nlohmann::json chord = nullptr;      // chord body signature dict
  // Top-level header keys Celery does not define (apply_async(headers=...)),
  // minus RabbitMQ's dead-lettering keys x-death / x-first-death-* / x-last-death-*.
  nlohmann::json custom_headers = nlohmann::json::object();
  // Celery 5.3+ stamping; kept so a retry can forward them.
  nlohmann::json stamped_headers = nullptr;
  nlohmann::json stamps = nlohmann::json::object();
  int replaced_task_nesting = 0;  // Celery 5.4+: Task.replace() depth
  // From the AMQP envelope.
  std::string reply_to;
  std::string correlation_id;
  std::optional<std::uint8_t> priority;
  std::string exchange;     // delivery exchange ("" = default exchange)
  std::string routing_key;  // delivery routing key; the `queue` of extended results
  bool redelivered = false;

  friend bool operator==(const TaskMessage&, const TaskMessage&) = default;
};

}  // namespace celeriac::worker::celery
