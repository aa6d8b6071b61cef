#include "worker/amqp/confirm_tracker.h"

namespace celeriac::worker::amqp {

std::uint64_t ConfirmTracker::sent(std::uint64_t id) {
  ids_by_seq_.emplace(++last_seq_, id);
  return last_seq_;
}

std::vector<std::uint64_t> ConfirmTracker::settle(std::uint64_t tag, bool multiple) {
  std::vector<std::uint64_t> ids;
  if (!multiple) {
    auto it = ids_by_seq_.find(tag);
    if (it != ids_by_seq_.end()) {
      ids.push_back(it->second);
      ids_by_seq_.erase(it);
    }
    return ids;
  }
  const auto end = ids_by_seq_.upper_bound(tag);
  for (auto it = ids_by_seq_.begin(); it != end; ++it) ids.push_back(it->second);
  ids_by_seq_.erase(ids_by_seq_.begin(), end);
  return ids;
}

void ConfirmTracker::reset() {
  last_seq_ = 0;
  ids_by_seq_.clear();
}

}  // namespace celeriac::worker::amqp
