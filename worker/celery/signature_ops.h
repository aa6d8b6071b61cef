#pragma once
// Operations on signature dicts (a Signature's JSON wire form) that Celery's canvas.py
// performs on Signature objects: reading the kind, merging call options
// (Signature._merge), freezing ids in (Signature.freeze and its group/chain/chord
// overrides), adding link/link_error (with the group and chord overrides), unrolling
// nested groups. canvas_expand.cc builds on them.
// What not: no message building (canvas.h) and no decisions about what to publish.
// Ownership: pure functions over JSON values; the ones taking `json&` edit in place.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/celery/canvas.h"

namespace celeriac::worker::celery::signature_ops {

// subtask_type, "" for a plain task signature.
std::string typeOf(const nlohmann::json& sig);
bool isImmutable(const nlohmann::json& sig);
// sig["options"], made an object if it was missing or not one.
nlohmann::json& optionsOf(nlohmann::json& sig);
// sig["kwargs"][key], or null.
nlohmann::json kwargOf(const nlohmann::json& sig, const char* key);
bool hasString(const nlohmann::json& options, const char* key);
// Signature._merge(): call options over the signature's, None values dropped, and a
// group_id the signature already has is kept (_IMMUTABLE_OPTIONS).
nlohmann::json mergeOptions(const nlohmann::json& own, const nlohmann::json& call);
// prefix + args (both lists).
nlohmann::json prependArgs(const nlohmann::json& prefix, const nlohmann::json& args);
// Appends `tasks` to `out` with nested groups flattened (group._freeze_unroll).
void unrollInto(const nlohmann::json& tasks, nlohmann::json& out);
// A chord header (a group signature or a list) as its flat list of members.
nlohmann::json headerTasks(const nlohmann::json& header);

struct Freeze {
  std::string id;
  std::string group_id;
  nlohmann::json chord = nullptr;
  std::optional<int> group_index;
};
// Signature.freeze() and its overrides: fixes ids (and, for the member of a group or
// chord, group_id/chord/group_index) in place; ids come from ctx.new_id.
void freeze(nlohmann::json& sig, const Freeze& f, const CanvasContext& ctx);
// Signature.link_error() (group: every member; chord: the body).
void linkError(nlohmann::json& sig, const nlohmann::json& errback);
// Signature.link() (group: the first member, made immutable; chord: the body).
void link(nlohmann::json& sig, const nlohmann::json& callback);
// null -> [], a single signature -> [it], a list as it is (maybe_list()).
nlohmann::json listOf(const nlohmann::json& value);
// chord(header, body) as a signature dict, options.task_id = body_id when given.
nlohmann::json chordSignature(nlohmann::json header, nlohmann::json body,
                              const std::string& body_id);

}  // namespace celeriac::worker::celery::signature_ops
