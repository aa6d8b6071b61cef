#pragma once
// frozenResult(): the result tuple Celery 5.2's Signature.freeze() returns for a
// signature whose ids are already fixed (canvas.py freeze() and its group, chain and
// chord overrides; result.py as_tuple(): [[id, parent], children]).
//
// What for: a worker applying a chord must know whether its header is "complex" (a
// member's result is a group result, as for a chain ending in a group): Python's
// apply_chord() then saves the header's GroupResult, and whoever completes the chord
// joins that saved group, so the body gets the group's results as one inner list.
// canvas_expand.cc builds that saved group from these tuples.
// What not: no freezing (signature_ops.h fixes the ids first), no I/O, no clock.
// Ownership: pure functions over JSON values.

#include <nlohmann/json.hpp>

namespace celeriac::worker::celery {

// For a frozen signature: a task's [[id, null], null]; a group's [[group_id, null],
// [its members' results]], nested groups unrolled as group._freeze_unroll() does (a
// nested group's members in reverse); a chain's last step's, each step's result the
// parent of the next as prepare_steps() links them (a group followed by a step being a
// chord); a chord's body's, with the header's group result as the first parent. Null
// for what is not a signature.
nlohmann::json frozenResult(const nlohmann::json& signature);

}  // namespace celeriac::worker::celery
