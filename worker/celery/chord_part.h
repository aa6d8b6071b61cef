#pragma once
// Chord bookkeeping on the Redis backend (native chords, no chord_unlock task), the pure
// half: what a chord header member writes into `celery-taskset-meta-<gid>.j`, and what
// the member that completes the set makes of the whole set (the body's argument, or the
// ChordError that fails it).
//
// What for: Celery 5.2's RedisBackend.on_chord_part_return() (backends/redis.py) is the
// reference; Python and celeriac workers may share one chord, so the member encoding
// must be byte-for-byte what Python's json.dumps writes: `[1, "<tid>", "<STATE>", <result>]`.
// What not: no Redis, no publishing (worker/redis/chord_store.h runs the atomic script,
// the pipeline publishes the body); no clock.
// Ownership: plain values and pure functions.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/celery/exception_info.h"
#include "worker/celery/task_message.h"

namespace celeriac::worker::celery {

// One header member's part of a chord, from its request (or, for a chain step that
// never ran, from its signature's options: backends/base.py mark_as_failure()).
struct ChordMember {
  std::string task_id;
  std::string group_id;
  std::optional<int> group_index;  // nullopt: scored +inf, as Python does
  std::string root_id;             // the root of the task that reports the part
  nlohmann::json body = nullptr;   // the chord body signature (request.chord)
};

// The member a task message stands for; nullopt when it is no chord member (no
// embed.chord or no group id: Python's `if not gid or not tid: return`).
std::optional<ChordMember> chordMemberOf(const TaskMessage& task);
// The same for a remaining chain step whose options carry `chord` (failure path).
std::optional<ChordMember> chordMemberOfStep(const nlohmann::json& step,
                                             const std::string& root_id);

// The .j member: Python's json.dumps([1, tid, state, encoded_result]) (", " separators).
// `encoded_result` is the return value, or the encoded exception for FAILURE/REVOKED.
std::string encodeChordPart(std::string_view task_id, std::string_view state,
                            const nlohmann::json& encoded_result);
// The ZADD score: the group index, or "+inf" without one.
std::string chordPartScore(const std::optional<int>& group_index);

// The outcome of a completed header, from the .j members in ZRANGE (group_index) order.
struct ChordJoin {
  bool ok = false;
  nlohmann::json results = nlohmann::json::array();  // when ok: the body's first argument
  ExceptionInfo error;  // when !ok: ChordError("Dependency <tid> raised <repr>")
  // joinSavedGroup() only: a leaf has no ready result yet (Python's join_native()
  // would wait for it); fetch the documents again and retry.
  bool pending = false;
};
// _unpack_chord_result(): the first FAILURE/REVOKED member (in order) fails the chord
// with ChordError naming it and its exception's repr; an undecodable member fails it
// with ChordError("Join error: ...").
ChordJoin joinChordParts(const std::vector<std::string>& members);

// A complex header (Python's apply_chord() saved its GroupResult because a member is a
// group): join_native() over `saved` (the stored {"result": <GroupResult tuple>}) with
// the leaves' result documents in tuple order. A nested group's results form a list
// of their own. A leaf without a document or still unready sets `pending`; one that
// FAILED or was REVOKED, or an undecodable document, fails the chord with ChordError("Join error:
// <repr>"), as Python's on_chord_part_return() wraps the exception join() raised.
ChordJoin joinSavedGroup(const std::string& saved,
                         const std::vector<std::optional<std::string>>& leaf_documents);
// The leaf task ids of a saved group, in tuple order (empty if it does not decode).
std::vector<std::string> savedGroupLeaves(const std::string& saved);
// What GroupResult.save() stores under `celery-taskset-meta-<group_id>` for a chord
// header (backends/base.py _save_group): json.dumps({"result": as_tuple()}), the tuple
// being [[group_id, null], member_results] (each member's result tuple, as frozen).
std::string savedGroupDocument(const std::string& group_id, const nlohmann::json& member_results);

// celery.exceptions.ChordError([message]).
ExceptionInfo chordError(std::string_view message);

}  // namespace celeriac::worker::celery
