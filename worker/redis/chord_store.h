#pragma once
// ChordStore: a chord header member's part on the Redis backend (Celery's native chords,
// no celery.chord_unlock task), as Celery 5.2's RedisBackend.on_chord_part_return() does
// it, in ONE atomic script (EVALSHA, EVAL after NOSCRIPT, through ResultStore::runScript):
//
//   ZADD   celery-taskset-meta-<gid>.j <group_index|+inf> '[1, "<tid>", "<STATE>", <result>]'
//   ZCOUNT .j -inf +inf ; GET .t ; GET .s ; EXPIRE .j/.t/.s <result_expires>
//   if .s is set and count == .s + .t:        (this member completes the header)
//     GET celery-taskset-meta-<gid>           (a saved GroupResult: a complex header)
//     ZRANGE .j 0 -1                          (simple header), or
//     MGET celery-task-meta-<leaf>...         (complex: join_native over the saved group)
//     DEL .j .t .s   unless a member FAILED/was REVOKED or did not decode, or (complex)
//                    a leaf is not SUCCESS yet (Python raises before its `finally:
//                    DEL` then, and the keys expire; or it waits for the leaf:
//                    fetchChordLeaves() deletes them once the wait is over)
//
// The same data commands, in the same order, as Python's three pipelines (MONITOR
// shows them inside the script; Python's own are in schemas/fixtures/celery/mon1.txt),
// so Python and celeriac members can share a chord.
// What for: TaskPipeline reports each chord member's outcome here after storing its
// result; the member that completes the header gets the members back and publishes
// the body (or fails it with ChordError).
// What not: no decoding of the members (chord_part.h) and no publishing.
// Loop thread only; `done` fires once, from the loop, after Redis answered.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "worker/redis/result_store.h"

namespace celeriac::worker::redis {

struct ChordPartReply {
  // The header is complete with this part (exactly one member sees this).
  bool completed = false;
  // When completed: the .j members in group_index order.
  std::vector<std::string> members;
  // When completed and `celery-taskset-meta-<gid>` exists: Python's saved GroupResult
  // of a complex header (a header member that is a group), as stored.
  std::optional<std::string> saved_group;
  // With saved_group: the result documents of its leaves, in the group's order
  // (nullopt: no document).
  std::vector<std::optional<std::string>> saved_docs;
};

// The part of task `task_id` in chord group `group_id`: `encoded_part` is
// chord_part.h's encodeChordPart(), `score` its chordPartScore(). `expires` is the
// result TTL (0: no EXPIRE, as Python with result_expires None).
void reportChordPart(ResultStore& store, const std::string& group_id, const std::string& score,
                     std::string encoded_part, std::chrono::seconds expires,
                     std::function<void(ChordPartReply)> done);

// A complex header's leaves read again while Python's join_native() would still be
// waiting for them: MGET of their result documents (nullopt: none) and, in the same
// script, once every one has SUCCEEDED, DEL .j/.t/.s of `group_id`, as Python's
// `finally: DEL` does once the join returned (a failed or missing leaf keeps them:
// the join raised, and they expire).
void fetchChordLeaves(ResultStore& store, const std::string& group_id,
                      const std::vector<std::string>& task_ids,
                      std::function<void(std::vector<std::optional<std::string>>)> done);

}  // namespace celeriac::worker::redis
