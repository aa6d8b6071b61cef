#include "worker/app/pipeline/result_writer.h"

#include <utility>

#include "worker/celery/result_keys.h"

namespace celeriac::worker::app::pipeline {

ResultWriter::ResultWriter(Context context, std::function<void()> after_write)
    : context_(context), after_write_(std::move(after_write)) {}

void ResultWriter::store(const std::string& task_id, std::string document,
                         std::function<void()> then) {
  ++context_.in_flight.storing;
  context_.ports.store(celery::resultKey(task_id), std::move(document),
                       [this, then = std::move(then)] {
                         --context_.in_flight.storing;
                         if (then) then();
                         if (after_write_) after_write_();
                       });
}

void ResultWriter::extend(celery::ResultRecord& record, const celery::TaskMessage& message) const {
  if (context_.options.result_extended) {
    celery::extendRecord(record, message, context_.options.hostname);
  }
}

}  // namespace celeriac::worker::app::pipeline
