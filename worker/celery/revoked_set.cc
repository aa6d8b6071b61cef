#include "worker/celery/revoked_set.h"

#include <cmath>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

double seconds(RevokedSet::SteadyTime time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

double seconds(RevokedSet::WallTime time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

}  // namespace

RevokedSet::RevokedSet(std::size_t max_entries, std::chrono::duration<double> expiry)
    : max_entries_(max_entries), expiry_s_(expiry.count()) {}

bool RevokedSet::expired(double stamp_s, double now_s) const {
  // LimitedSet.purge keeps an entry while `inserted_time + expires > now`.
  return expiry_s_ > 0 && !(stamp_s + expiry_s_ > now_s);
}

void RevokedSet::insert(std::string_view id, double stamp_s, bool keep_later) {
  std::string key(id);
  const auto it = stamps_.find(key);
  if (it != stamps_.end()) {
    if (keep_later && it->second >= stamp_s) return;
    by_age_.erase({it->second, key});
    it->second = stamp_s;
  } else {
    stamps_.emplace(key, stamp_s);
  }
  by_age_.emplace(stamp_s, std::move(key));
}

void RevokedSet::evictOverflow() {
  if (max_entries_ == 0) return;
  while (stamps_.size() > max_entries_) {
    const auto oldest = by_age_.begin();
    stamps_.erase(oldest->second);
    by_age_.erase(oldest);
  }
}

void RevokedSet::add(std::string_view id, SteadyTime now) {
  insert(id, seconds(now), /*keep_later=*/false);
  evictOverflow();
}

bool RevokedSet::contains(std::string_view id, SteadyTime now) const {
  const auto it = stamps_.find(std::string(id));
  return it != stamps_.end() && !expired(it->second, seconds(now));
}

void RevokedSet::purge(SteadyTime now) {
  evictOverflow();
  const double now_s = seconds(now);
  while (!by_age_.empty() && expired(by_age_.begin()->first, now_s)) {
    stamps_.erase(by_age_.begin()->second);
    by_age_.erase(by_age_.begin());
  }
}

std::vector<std::string> RevokedSet::ids() const {
  std::vector<std::string> out;
  out.reserve(by_age_.size());
  for (const auto& entry : by_age_) out.push_back(entry.second);
  return out;
}

std::size_t RevokedSet::mergeHello(const json& revoked, SteadyTime now) {
  std::size_t merged = 0;
  if (revoked.is_object()) {
    for (const auto& [id, value] : revoked.items()) {
      // LimitedSet.update: a list/tuple value is (ts, id) from `_data`; else a bare ts.
      const json& stamp = value.is_array() && !value.empty() ? value.front() : value;
      if (!stamp.is_number()) continue;
      const double stamp_s = stamp.get<double>();
      if (!std::isfinite(stamp_s)) continue;
      insert(id, stamp_s, /*keep_later=*/true);
      ++merged;
    }
  } else if (revoked.is_array()) {
    for (const json& id : revoked) {
      if (!id.is_string()) continue;
      insert(id.get_ref<const std::string&>(), seconds(now), /*keep_later=*/true);
      ++merged;
    }
  }
  evictOverflow();
  return merged;
}

json RevokedSet::helloReply(SteadyTime now, std::uint64_t clock) {
  purge(now);
  json revoked = json::object();
  for (const auto& [stamp_s, id] : by_age_) {
    revoked[id] = json::array({stamp_s, id});
  }
  return json{{"revoked", std::move(revoked)}, {"clock", clock}};
}

json RevokedSet::toJson(SteadyTime now, WallTime wall_now) const {
  const double now_s = seconds(now);
  const double wall_now_s = seconds(wall_now);
  json entries = json::array();
  for (const auto& [stamp_s, id] : by_age_) {
    entries.push_back(json::array({id, wall_now_s - (now_s - stamp_s)}));
  }
  return json{{"version", 1}, {"revoked", std::move(entries)}};
}

Result<RevokedSet> RevokedSet::fromJson(const json& saved, SteadyTime now, WallTime wall_now,
                                        std::size_t max_entries,
                                        std::chrono::duration<double> expiry) {
  if (!saved.is_object() || saved.value("version", json()) != json(1)) {
    return Error{"saved revokes are not an object with \"version\": 1"};
  }
  const auto entries = saved.find("revoked");
  if (entries == saved.end() || !entries->is_array()) {
    return Error{"saved revokes have no \"revoked\" list"};
  }
  RevokedSet set(max_entries, expiry);
  const double now_s = seconds(now);
  const double wall_now_s = seconds(wall_now);
  for (const json& entry : *entries) {
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number() ||
        !std::isfinite(entry[1].get<double>())) {
      return Error{"saved revokes hold an entry that is not [id, epoch seconds]"};
    }
    const double stamp_s = now_s - (wall_now_s - entry[1].get<double>());
    set.insert(entry[0].get_ref<const std::string&>(), stamp_s, /*keep_later=*/true);
  }
  set.purge(now);
  return set;
}

}  // namespace celeriac::worker::celery
