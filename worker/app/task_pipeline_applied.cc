// TaskPipeline: a canvas that a task applies from inside (Success::applies, e.g.
// celery.chunks), as a Python task calling sig.apply_async(): expanded with the task as
// parent, published with its follow-ups (before the ack, so a lost publish runs the task
// again), and its result tuple is what the task returns.

#include "worker/app/task_pipeline.h"
#include "worker/app/task_pipeline_internal.h"
#include "worker/celery/canvas_expand.h"

namespace celeriac::worker::app {

using nlohmann::json;

json TaskPipeline::applyFromTask(const celery::TaskMessage& task, const json& signature,
                                 std::vector<celery::OutboundMessage>& messages,
                                 std::vector<celery::ChordSize>& sizes) {
  celery::Expansion out;
  const std::string root = task.root_id.empty() ? task.id : task.root_id;
  celery::applySignature(signature, {json::array(), json::object(), task.id, root},
                         publisher_.canvasContext(), out);
  for (const auto& e : out.errors) taskLog()->error("task_id={} applied canvas: {}", task.id, e);
  for (auto& m : out.messages) messages.push_back(std::move(m));
  for (auto& s : out.chord_sizes) sizes.push_back(std::move(s));
  return out.result;
}

}  // namespace celeriac::worker::app
