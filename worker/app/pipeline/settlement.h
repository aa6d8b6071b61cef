#pragma once
// Settlement: what becomes of a task run's outcome, from the handler's `done` to the
// ack, and of a task that will not run (revoked, expired, terminated).
//
//   outcome ─secrets masked─▶ Failure matching autoretry_for? ─▶ Retry
//     Retry ─────────▶ Republisher::retry(): republished (done), or the Failure it gives
//     Success applying a canvas (celery.chunks) ─▶ its messages join the follow-ups
//     Unavailable ───▶ Republisher::parkUnavailable(): parked (done), or a Failure
//     Success/Failure ─▶ record (SUCCESS / FAILURE) ─▶ canvas follow-ups (chain step,
//        callbacks; or errbacks and the remaining steps' FAILURE) published, the record
//        stored, chord parts reported (Chords) ─all durable─▶ ack
//        (a follow-up the broker did not confirm sends the message back to its queue)
//
// What for: at-least-once: a late-acked delivery is acked only once its result is
// stored, its follow-ups confirmed and its chord part recorded.
// What not: no running, no time limits, no slot accounting (the TaskPipeline); no
// message building (worker/celery/canvas*.h) and no parking (republish.h).
// Ownership: borrows the Context and the other parts; owns retry_jitter's generator.
// Loop thread only.

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/app/pipeline/chords.h"
#include "worker/app/pipeline/context.h"
#include "worker/app/pipeline/job.h"
#include "worker/app/pipeline/publisher.h"
#include "worker/app/pipeline/republish.h"
#include "worker/app/pipeline/result_writer.h"
#include "worker/celery/canvas.h"
#include "worker/celery/result_document.h"
#include "worker/tasks/task_outcome.h"

namespace celeriac::worker::app::pipeline {

class Settlement {
 public:
  Settlement(Context context, ResultWriter& writer, Publisher& publisher, Republisher& republisher,
             Chords& chords);

  // Settles a finished job's outcome as above. Should settling itself throw (a value no
  // codec expected), that exception is stored as the task's FAILURE and the message is
  // settled anyway, rather than end the process with it unacked (it would be
  // redelivered to the next replica, and the next).
  void settle(Job& job, tasks::TaskOutcome outcome);
  // Stores REVOKED for a task that will not run (`reason`: expired, revoked,
  // terminated), reports its chord part, and acks its message once stored when `ack`
  // (an early-acked one already was).
  void settleRevoked(Job& job, const std::string& reason, bool ack);

 private:
  // What a stored outcome sends on: messages (in publish order), the chord sizes to
  // write first, and the chord parts to report after the result is stored.
  struct FollowUps {
    std::vector<celery::OutboundMessage> messages;
    std::vector<celery::ChordSize> chord_sizes;
    std::vector<celery::ChordMember> chord_parts;
  };

  void settleOutcome(Job& job, tasks::TaskOutcome outcome);
  // autoretry_for: a matching Failure becomes a Retry (with retry_backoff's countdown).
  void autoRetry(const Job& job, tasks::TaskOutcome& outcome);
  // A canvas the task applies from inside (Success::applies): expanded with the task as
  // parent into `out`; returns its result tuple (the task's return value).
  nlohmann::json applyFromTask(const celery::TaskMessage& task, const nlohmann::json& signature,
                               FollowUps& out);
  // The SUCCESS or FAILURE record of an outcome that is one of those two, counted,
  // logged and told to the event listeners.
  celery::ResultRecord record(const Job& job, tasks::TaskOutcome& outcome);
  // The canvas follow-ups of a stored `record` (sets its `children`); stores a failure's
  // record under the remaining chain steps' ids.
  FollowUps followUps(const Job& job, bool succeeded, celery::ResultRecord& record);
  // Publishes the follow-ups and stores the record (each first), reports the chord
  // parts, then acks (or rejects: `drop`, or a follow-up not confirmed).
  void storeThenAck(Job& job, const celery::ResultRecord& record, FollowUps follow, bool drop);
  // Acks a settled message, or rejects it without requeue when `drop` (a failure of a
  // task with acks_on_failure_or_timeout off); nothing for an early-acked one.
  void ackSettled(amqp::DeliveryRef ref, bool late, bool drop);

  Context context_;
  ResultWriter& writer_;
  Publisher& publisher_;
  Republisher& republisher_;
  Chords& chords_;
  // retry_jitter's randomness.
  std::mt19937_64 jitter_rng_{std::random_device{}()};
};

}  // namespace celeriac::worker::app::pipeline
