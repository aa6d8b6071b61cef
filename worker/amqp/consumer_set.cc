#include "worker/amqp/consumer_set.h"

#include <algorithm>

namespace celeriac::worker::amqp {

ConsumerSet::ConsumerSet(std::vector<QueueSpec> queues) {
  for (QueueSpec& q : queues) add(std::move(q));
}

std::optional<std::size_t> ConsumerSet::add(QueueSpec queue) {
  if (contains(queue.name)) return std::nullopt;
  const std::size_t slot = next_slot_++;
  entries_.push_back(Entry{std::move(queue), slot});
  return slot;
}

std::optional<std::size_t> ConsumerSet::remove(const std::string& name) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&name](const Entry& e) { return e.queue.name == name; });
  if (it == entries_.end()) return std::nullopt;
  const std::size_t slot = it->slot;
  entries_.erase(it);
  return slot;
}

void ConsumerSet::renumber() {
  for (std::size_t i = 0; i < entries_.size(); ++i) entries_[i].slot = i;
  next_slot_ = entries_.size();
}

bool ConsumerSet::contains(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&name](const Entry& e) { return e.queue.name == name; });
}

const ConsumerSet::Entry* ConsumerSet::bySlot(std::size_t slot) const {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [slot](const Entry& e) { return e.slot == slot; });
  return it == entries_.end() ? nullptr : &*it;
}

std::vector<QueueSpec> ConsumerSet::queues() const {
  std::vector<QueueSpec> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back(e.queue);
  return out;
}

}  // namespace celeriac::worker::amqp
