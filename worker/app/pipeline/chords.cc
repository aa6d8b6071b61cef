#include "worker/app/pipeline/chords.h"

#include <memory>
#include <utility>

#include "worker/app/pipeline/join.h"
#include "worker/app/pipeline/task_log.h"
#include "worker/celery/canvas_expand.h"
#include "worker/celery/result_document.h"

namespace celeriac::worker::app::pipeline {

using nlohmann::json;

namespace {
// Celery's result_chord_join_timeout (3 s) and a poll period for the leaves.
constexpr std::chrono::milliseconds kChordJoinTimeout{3000};
constexpr std::chrono::milliseconds kChordJoinPoll{100};
}  // namespace

Chords::Chords(Context context, ResultWriter& writer, Publisher& publisher)
    : context_(context), writer_(writer), publisher_(publisher) {}

Chords::~Chords() {
  for (const common::TimerId timer : join_timers_) context_.dispatcher.cancel(timer);
}

std::function<void()> Chords::withParts(std::vector<celery::ChordMember> members, std::string state,
                                        json encoded_result, std::function<void()> next) {
  if (members.empty() || !context_.ports.chord_part) return next;
  return [this, members = std::move(members), state = std::move(state),
          encoded_result = std::move(encoded_result), next = std::move(next)] {
    const auto reported = joinAll(members.size(), [next](bool) {
      if (next) next();
    });
    const auto one_done = [reported] { reported(true); };
    for (const celery::ChordMember& member : members) {
      context_.ports.chord_part(member.group_id, celery::chordPartScore(member.group_index),
                                celery::encodeChordPart(member.task_id, state, encoded_result),
                                [this, member, one_done](ChordPartResult parts) {
                                  if (!parts.completed) {
                                    one_done();
                                    return;
                                  }
                                  complete(member, parts, one_done);
                                });
    }
  };
}

void Chords::complete(const celery::ChordMember& member, const ChordPartResult& parts,
                      std::function<void()> done) {
  celery::ChordJoin join = parts.saved_group
                               ? celery::joinSavedGroup(*parts.saved_group, parts.saved_docs)
                               : celery::joinChordParts(parts.members);
  if (join.pending && parts.saved_group && context_.ports.fetch_chord_leaves) {
    waitForSavedGroup(member, *parts.saved_group,
                      context_.dispatcher.clock().now() + kChordJoinTimeout, std::move(done));
    return;
  }
  finish(member, std::move(join), std::move(done));
}

void Chords::waitForSavedGroup(celery::ChordMember member, std::string saved,
                               common::SteadyTime deadline, std::function<void()> done) {
  auto timer = std::make_shared<common::TimerId>(0);
  *timer = context_.dispatcher.schedule(kChordJoinPoll, [this, timer, member = std::move(member),
                                                         saved = std::move(saved), deadline,
                                                         done = std::move(done)]() mutable {
    join_timers_.erase(*timer);
    const std::vector<std::string> leaves = celery::savedGroupLeaves(saved);
    context_.ports.fetch_chord_leaves(
        member.group_id, leaves,
        [this, member, saved, deadline, done](std::vector<std::optional<std::string>> docs) {
          celery::ChordJoin join = celery::joinSavedGroup(saved, docs);
          if (join.pending && context_.dispatcher.clock().now() < deadline) {
            waitForSavedGroup(member, saved, deadline, done);
            return;
          }
          if (join.pending) {
            join.error = celery::chordError("Join error: TimeoutError('The operation timed out.')");
          }
          finish(member, std::move(join), done);
        });
  });
  join_timers_.insert(*timer);
}

void Chords::finish(const celery::ChordMember& member, celery::ChordJoin join,
                    std::function<void()> done) {
  const celery::CanvasContext ctx = publisher_.canvasContext();
  const json& body = member.body;
  if (join.ok) {
    celery::Expansion expansion;
    celery::applySignature(
        body,
        {json::array({std::move(join.results)}), json::object(), member.task_id, member.root_id},
        ctx, expansion);
    for (const auto& e : expansion.errors) {
      taskLog()->error("task_id={} chord body: {}", member.task_id, e);
    }
    taskLog()->info("chord complete group_id={} task_id={}", member.group_id, member.task_id);
    publisher_.publishExpansion(
        std::move(expansion.chord_sizes), std::move(expansion.messages), [member, done](bool ok) {
          if (!ok) {
            taskLog()->error("chord body of group_id={} not confirmed by the broker",
                             member.group_id);
          }
          done();
        });
    return;
  }
  // chord_error_from_stack(): the body's errbacks get the body's id, then the body is
  // marked FAILURE with the ChordError.
  const json options = body.is_object() ? body.value("options", json::object()) : json::object();
  const std::string body_id = options.value("task_id", json("")).is_string()
                                  ? options.value("task_id", std::string())
                                  : std::string();
  taskLog()->error("chord failed group_id={} body_id={}: {}", member.group_id, body_id,
                   join.error.args.dump());
  celery::Expansion errbacks;
  json link_error = options.value("link_error", json(nullptr));
  if (link_error.is_object()) link_error = json::array({link_error});
  if (link_error.is_array() && !link_error.empty() && !body_id.empty()) {
    celery::applySignature(celery::groupSignature(link_error),
                           {json::array({body_id}), json::object(), body_id, body_id}, ctx,
                           errbacks);
  }
  celery::ResultRecord record;
  record.task_id = body_id;
  record.state = celery::TaskState::kFailure;
  record.result = celery::encodeException(join.error);
  record.traceback =
      "Traceback (most recent call last):\n  (joining the chord's header results)\n"
      "celery.exceptions.ChordError: " +
      join.error.args.at(0).get<std::string>() + "\n";
  record.date_done = context_.dispatcher.clock().wallNow();
  const std::string document = celery::renderResultDocument(record);
  publisher_.publishExpansion(std::move(errbacks.chord_sizes), std::move(errbacks.messages),
                              [this, body_id, document, done](bool) {
                                if (body_id.empty()) {
                                  done();
                                  return;
                                }
                                writer_.store(body_id, document, done);
                              });
}

}  // namespace celeriac::worker::app::pipeline
