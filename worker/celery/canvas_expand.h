#pragma once
// Canvas expansion: what a worker publishes when it applies a signature of any kind
// (a task, chain, group, chord, chunks, xmap/xstarmap), as Celery 5.2's canvas.py does
// when trace.py applies a callback or the next chain step, or a chord's body is called.
//
// What for: the next step of a chain may be a group or a chord, a callback may be a
// chain, a chord body may be a chain whose steps are groups. This file turns any of
// them into protocol-v2 messages (canvas.h builds each one) plus the chord sizes to
// write first (`celery-taskset-meta-<gid>.s`, the chord's header count), following:
//   chain  (_chain.run/prepare_steps): nested chains are spliced; a group followed by
//          a step becomes a chord with that step as body; the first step is published
//          with the rest (reversed) as embed.chain; the chain's task_id, group_id,
//          chord and group_index go to its LAST step, link too; link_error to every step;
//   group  (group.apply_async/_prepared/_apply_tasks): nested groups are unrolled,
//          each member gets the group id (options.task_id, else a fresh one) and the
//          partial args; chord sizes are written only where a chord is applied (a
//          group that is one header member's later chain step does not overwrite its
//          header's size with its own count, as Python's _apply_tasks() does);
//   chord  (_chord.run): the body takes the chord's options (chain, link, link_error,
//          group_id, chord, ...) and the chord's task_id; each header member gets
//          group_id, group_index (its position) and chord = body; size = sum of
//          _chord._descend() over the header; a header whose members' frozen results
//          (frozen_result.h) include a group result is saved with the size, as
//          apply_chord() saves it; an empty header calls the body with [];
//   chunks (chunks.group): a group of celery.starmap signatures over slices of `it`;
//   xmap/xstarmap: one celery.map/celery.starmap message, routed by the inner task.
// What not: no I/O, no clock, no randomness (CanvasContext brings all three); eager
// mode and protocol 1 `use_link` are not reproduced.
// Ownership: pure functions over JSON values.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/celery/canvas.h"

namespace celeriac::worker::celery {

// Everything one application of a signature produces. Write chord_sizes before
// publishing messages (a header member may finish before the next one is sent).
struct Expansion {
  std::vector<ChordSize> chord_sizes;
  std::vector<OutboundMessage> messages;  // in publish order
  // What the applying task lists in `children`: resultTuple(id) for a task, a
  // GroupResult tuple [[gid, null], [...]] for a group or a chord's header, the first
  // step's for a chain. Null when nothing was published.
  nlohmann::json result = nullptr;
  std::vector<std::string> errors;  // signatures that could not be built (skipped)
};

// sig.apply_async(args, **options) inside a task: `args` are partial args (prepended
// unless the signature is immutable), `options` are call options merged over the
// signature's own (chain, group_id, ...: Signature._merge, where a group_id already
// set wins); parent_id/root_id are the applying task's. Appends to `out`.
struct ApplyCall {
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json options = nlohmann::json::object();
  std::string parent_id;
  std::string root_id;
};
void applySignature(const nlohmann::json& signature, const ApplyCall& call,
                    const CanvasContext& ctx, Expansion& out);

// _chord._descend(): how many completions a header member counts for (a task 1, a
// group the sum of its members, a chain its last non-empty step, a chord its body).
std::int64_t chordCompletions(const nlohmann::json& signature);

// A group signature dict of `tasks` (what `group(sigs)` sends), options empty.
nlohmann::json groupSignature(nlohmann::json tasks);

}  // namespace celeriac::worker::celery
