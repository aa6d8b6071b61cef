#pragma once
// Chords: a chord member's part on the Redis backend, and what the member completing the
// header does, as Celery 5.2's RedisBackend.on_chord_part_return() does it.
//
//   member's result stored ─▶ its part into celery-taskset-meta-<gid>.j (one atomic
//   script, PipelinePorts::chord_part) ─▶ not complete: next()
//                                       └▶ complete: join the parts, or the saved
//       GroupResult of a complex header (waiting for leaves not ready yet, as
//       join_native() does, up to result_chord_join_timeout)
//         ok:     publish the body with the results in header order ─▶ next()
//         failed: publish the body's errbacks, store ChordError on the body
//                 (backends/base.py chord_error_from_stack()) ─▶ next()
//
// What for: the pipeline acks a chord member only after its part is recorded (and, for
// the completer, the body sent or failed), so a crash never loses a chord's body.
// What not: no decoding or joining of parts (worker/celery/chord_part.h), no Redis
// script (worker/redis/chord_store.h, behind the ports).
// Ownership: borrows the Context, the ResultWriter and the Publisher; owns the timers of
// joins still waiting for leaves (cancelled with it). Loop thread only.

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/app/pipeline/context.h"
#include "worker/app/pipeline/publisher.h"
#include "worker/app/pipeline/result_writer.h"
#include "worker/celery/chord_part.h"

namespace celeriac::worker::app::pipeline {

class Chords {
 public:
  Chords(Context context, ResultWriter& writer, Publisher& publisher);
  ~Chords();
  Chords(const Chords&) = delete;
  Chords& operator=(const Chords&) = delete;

  // `next`, or a function that first reports these chord members' part (`state` and
  // the encoded result) and, for the member completing its header, publishes the body
  // or fails it with ChordError; then calls `next`.
  std::function<void()> withParts(std::vector<celery::ChordMember> members, std::string state,
                                  nlohmann::json encoded_result, std::function<void()> next);

 private:
  void complete(const celery::ChordMember& member, const ChordPartResult& parts,
                std::function<void()> done);
  // Python's join_native() waits (result_chord_join_timeout, 3 s) for a complex header's
  // leaves that are not ready yet: read them again every 100 ms until then.
  void waitForSavedGroup(celery::ChordMember member, std::string saved,
                         common::SteadyTime deadline, std::function<void()> done);
  void finish(const celery::ChordMember& member, celery::ChordJoin join,
              std::function<void()> done);

  Context context_;
  ResultWriter& writer_;
  Publisher& publisher_;
  std::set<common::TimerId> join_timers_;
};

}  // namespace celeriac::worker::app::pipeline
