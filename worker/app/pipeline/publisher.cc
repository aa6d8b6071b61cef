#include "worker/app/pipeline/publisher.h"

#include <memory>
#include <utility>

#include "worker/app/pipeline/join.h"
#include "worker/app/pipeline/outgoing_message.h"
#include "worker/app/pipeline/task_log.h"
#include "worker/celery/result_keys.h"
#include "worker/celery/task_id.h"
#include "worker/celery/task_routes.h"

namespace celeriac::worker::app::pipeline {

Publisher::Publisher(Context context) : context_(context) {}

void Publisher::publishAll(std::vector<celery::OutboundMessage> messages,
                           std::function<void(bool)> done) {
  ++context_.in_flight.publishing;  // counted as in-flight publishes for shutdown
  const auto confirmed = joinAll(messages.size(), [this, done](bool all_ok) {
    --context_.in_flight.publishing;
    done(all_ok);
  });
  for (auto& message : messages) {
    taskLog()->info("published task={} task_id={} queue={}", message.headers.value("task", ""),
                    message.task_id, message.routing_key);
    context_.ports.publish(toOutgoing(std::move(message)), confirmed);
  }
}

void Publisher::publishExpansion(std::vector<celery::ChordSize> sizes,
                                 std::vector<celery::OutboundMessage> messages,
                                 std::function<void(bool)> done) {
  if (messages.empty()) {
    done(true);
    return;
  }
  const PipelinePorts& ports = context_.ports;
  if (sizes.empty() || !ports.set_chord_size) {
    publishAll(std::move(messages), std::move(done));
    return;
  }
  // Every size (and a complex header's saved group) is written before any header
  // member goes out: a member may finish before the next one is published, and it
  // must find the size (redis.py reads .s) and the saved group (GroupResult.restore).
  std::size_t writes = sizes.size();
  for (const celery::ChordSize& size : sizes) writes += size.saved_group.empty() ? 0U : 1U;
  auto shared = std::make_shared<std::vector<celery::OutboundMessage>>(std::move(messages));
  const auto written =
      joinAll(writes, [this, shared, done](bool) { publishAll(std::move(*shared), done); });
  const auto one_written = [written] { written(true); };
  for (celery::ChordSize& size : sizes) {
    if (!size.saved_group.empty()) {
      // Python's GroupResult.save(): SETEX + PUBLISH like any result write.
      ports.store(celery::groupKey(size.group_id), std::move(size.saved_group), one_written);
    }
    ports.set_chord_size(size.group_id, size.size, one_written);
  }
}

celery::CanvasContext Publisher::canvasContext() {
  const PipelineOptions& options = context_.options;
  celery::CanvasContext ctx;
  ctx.origin = options.hostname;
  ctx.now = context_.dispatcher.clock().wallNow();
  ctx.new_id = [this] { return celery::uuid4(id_rng_(), id_rng_()); };
  ctx.route_for_task = [&options](const std::string& name) {
    return celery::routeTask(name, options.task_queues, options.task_routes);
  };
  ctx.default_queue = options.default_queue;
  return ctx;
}

}  // namespace celeriac::worker::app::pipeline
