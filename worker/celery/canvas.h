#pragma once
// Canvas follow-ups: the messages a finished task must publish for its chain, its link
// callbacks and its link_error errbacks, built as Python would build them (Python's own
// chain and link messages: schemas/fixtures/celery/q3.json).
//
// What for: after a task SUCCEEDS the worker publishes its link callbacks and the next
// chain step BEFORE storing the result (so `children` lists them); after it FAILS it
// stores the same FAILURE on the remaining chain steps' ids, reports the chord parts of
// those steps, and publishes the errbacks. This file builds one message from one
// signature (messageForSignature) and decides what follows a task
// (canvas_follow_ups.cc); signatures of every canvas kind (chain, group, chord, chunks,
// xmap/xstarmap, nested in each other) are expanded by canvas_expand.h, and chord
// bookkeeping (the members' parts in Redis) is chord_part.h's. The shell publishes
// (with publisher confirms), writes the chord sizes and Redis.
// What not: no I/O, no clock read and no randomness: `now` and a uuid4 generator come in
// through CanvasContext. No `task_inherit_parent_priority`.
// Ownership: pure functions returning values; CanvasContext's functions are called
// synchronously, during the call only, and never retained.
//
// Choices where Python's behaviour is not reproducible or not wanted:
// * argsrepr/kwargsrepr are a Python-like repr rendered from the JSON values ([1, 'a'],
//   {'k': None}), cut at 1024 bytes on a UTF-8 boundary; options.argsrepr/kwargsrepr
//   strings, when a signature carries them, are used as they are.
// * eta/expires given as strings are parsed and re-emitted by formatIsoTime() (UTC,
//   6 fraction digits, which Celery <= 5.2 reads right too); an unparsable one makes
//   the signature malformed, since a Python worker would reject the message anyway.
// * options.headers are merged at the top level of the header table, but never replace
//   a protocol key this file sets (Python lets them, which could rewrite `id`/`task`).
// * The AMQP `expiration` property Python derives from a numeric `expires` is not set:
//   the `expires` header carries the same deadline and every worker checks it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "worker/celery/chord_part.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

// One protocol-v2 message to publish. delivery_mode is always 2 (persistent), so it is
// not a field.
struct OutboundMessage {
  std::string exchange;  // "" = default exchange, routing_key is then the queue
  std::string routing_key;
  std::string task_id;  // == headers["id"], for logs and publish-confirm bookkeeping
  std::string content_type = "application/json";
  std::string content_encoding = "utf-8";
  std::string correlation_id;                         // == task_id
  std::string reply_to;                               // "" when the signature had none
  std::optional<std::uint8_t> priority;               // nullopt: leave the property out (read as 0)
  nlohmann::json headers = nlohmann::json::object();  // the application_headers table
  std::string body;  // JSON text of [args, kwargs, embed], embed with all four keys
};

struct CanvasContext {
  std::string origin;  // header `origin`: "gen<pid>@host" or the worker's nodename
  std::chrono::system_clock::time_point now;  // base of countdown and numeric expires
  // A fresh uuid4 string per call: ids of signatures without options.task_id and
  // group ids. Required.
  std::function<std::string()> new_id;
  // The queue for a task name when the signature has no options.queue (the worker's
  // task_routes); nullopt or an empty function -> default_queue.
  std::function<std::optional<std::string>(const std::string& task_name)> route_for_task;
  std::string default_queue = "celery";
};

// A signature dict ({task, args, kwargs, options, subtask_type, immutable}) as a full
// protocol-v2 message:
// * id = options.task_id, else ctx.new_id();
// * args = signature.immutable ? args : args_prefix + args; kwargs as given;
// * headers: lang, task, id, root_id, parent_id (null when empty), group
//   (options.group_id), group_index, retries 0, eta (options.countdown when non-zero ->
//   now + countdown, else options.eta), expires (number -> now + expires), timelimit
//   [time_limit, soft_time_limit], shadow, argsrepr, kwargsrepr, origin, ignore_result,
//   then options.headers (see the banner);
// * properties: correlation_id = id, reply_to = options.reply_to, priority;
// * body: [args, kwargs, {callbacks: options.link, errbacks: options.link_error,
//   chain: chain_rest, chord: options.chord}] (a single link dict becomes a list);
// * routing, as Python's publisher does: options.exchange + options.routing_key when
//   both are non-empty; otherwise the default exchange "" with routing key =
//   options.queue, else ctx.route_for_task(task), else ctx.default_queue.
// `args_prefix` must be an array; `chain_rest` an array (the remaining steps, reversed)
// or null. Returns an Error for a malformed signature: not an object, no task name, args
// not an array, kwargs not an object, an option of the wrong type, a nested canvas type,
// or no ctx.new_id when one is needed. Never throws on bad input.
common::Result<OutboundMessage> messageForSignature(const nlohmann::json& signature,
                                                    const nlohmann::json& args_prefix,
                                                    const std::string& parent_id,
                                                    const std::string& root_id,
                                                    const nlohmann::json& chain_rest,
                                                    const CanvasContext& ctx);

// A chord's size, `celery-taskset-meta-<group_id>.s`, written before its header goes out,
// and for a complex header (a member's result is a group result) the GroupResult that
// Python's apply_chord() saves as `celery-taskset-meta-<group_id>` (chord_part.h's
// savedGroupDocument(); empty: a simple header, nothing saved).
struct ChordSize {
  std::string group_id;
  std::int64_t size = 0;
  std::string saved_group{};
};

struct SuccessFollowUps {
  std::vector<OutboundMessage> messages;  // in publish order: callbacks, then chain step
  std::vector<ChordSize> chord_sizes{};   // write these before publishing `messages`
  // The SUCCESS document's `children`, as Python writes them: resultTuple(id) for a
  // single callback and for the chain step; for two or more callbacks (published as one
  // group) a GroupResult tuple [[group_id, null], [resultTuple(member)...]].
  nlohmann::json children = nlohmann::json::array();
  std::vector<std::string> errors;  // one per signature that could not be built
};

// After `task` returned `retval`: publish these, then store SUCCESS with `children`.
// Callbacks get args [retval] + sig.args, parent_id = task.id, root_id = task.root_id or
// task.id; with more than one they form a group sharing one fresh group id (group
// callbacks are applied on their own, as trace.py does). The next chain step is
// task.chain's last element, applied with chain = the rest (an empty list for the last
// step, never null); a step that is a group or chord is expanded (canvas_expand.h).
// A malformed signature is skipped and reported in `errors`; the others are still
// returned.
SuccessFollowUps successFollowUps(const TaskMessage& task, const nlohmann::json& retval,
                                  const CanvasContext& ctx);

struct FailureFollowUps {
  std::vector<OutboundMessage> errbacks;  // publish after storing the FAILURE
  // Remaining chain steps with an options.task_id, in task.chain order (reversed
  // execution order): store the same FAILURE document under each id.
  std::vector<std::string> remaining_chain_ids;
  std::vector<std::string> errors;
  // Remaining chain steps that are chord members: each reports FAILURE as its part.
  std::vector<ChordMember> chord_parts{};
  std::vector<ChordSize> chord_sizes{};  // an errback that is a chord
};

// After `task` FAILED: the remaining chain steps are not published; errbacks go out as
// one group (a fresh group id even for a single errback) with args [task.id] + sig.args,
// parent_id = task.id, root_id = task.root_id or task.id.
FailureFollowUps failureFollowUps(const TaskMessage& task, const CanvasContext& ctx);

}  // namespace celeriac::worker::celery
