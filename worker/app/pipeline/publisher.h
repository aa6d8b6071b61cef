#pragma once
// Publisher: what the pipeline publishes for a canvas (a chain's next step, callbacks,
// errbacks, a chord's header or body, a canvas a task applies), with broker confirms,
// and the ids and routes those messages get.
//
//   publishExpansion(sizes, messages)
//     chord sizes (.s) and complex headers' saved groups ─written─▶ publishAll(messages)
//   publishAll(messages) ─every one confirmed─▶ done(all_ok)
//
// What for: a chord member may finish before the next member is even published, so
// every size (and saved GroupResult) is written before any member goes out; the caller
// acks only after done(true) (at-least-once: an unconfirmed follow-up sends the task
// back to its queue instead of a chain silently ending).
// What not: no decisions about what follows a task (worker/celery/canvas*.h build the
// messages) and no parking or retries (republish.h).
// Ownership: borrows the Context; owns the id generator. Loop thread only.

#include <functional>
#include <random>
#include <vector>

#include "worker/app/pipeline/context.h"
#include "worker/celery/canvas.h"

namespace celeriac::worker::app::pipeline {

class Publisher {
 public:
  explicit Publisher(Context context);

  // Publishes every message with a confirm; done(all_ok) once the broker answered for
  // all of them. The batch counts as one publish in flight until then.
  void publishAll(std::vector<celery::OutboundMessage> messages, std::function<void(bool)> done);
  // Writes the chord sizes and saved groups, then publishes; done(true) at once when
  // there is nothing to publish.
  void publishExpansion(std::vector<celery::ChordSize> sizes,
                        std::vector<celery::OutboundMessage> messages,
                        std::function<void(bool)> done);
  // The canvas builders' context: this worker as origin, the time now, fresh uuid4 ids,
  // and the worker's task queues and routes (celery::routeTask()).
  [[nodiscard]] celery::CanvasContext canvasContext();

 private:
  Context context_;
  // The bits of the ids given to what the worker publishes (celery::uuid4()).
  std::mt19937_64 id_rng_{std::random_device{}()};
};

}  // namespace celeriac::worker::app::pipeline
