#pragma once
// RevokedStore: the worker's revoked task ids (Celery's worker_state.revoked), kept
// across restarts in the --statedb file.
//
// A `revoke` broadcast reaches every replica, so each keeps its own set; a replica that
// restarts reads its file back. The set is bounded like Celery's (celery::RevokedSet:
// 50,000 ids, each for 3 hours). The file is JSON (not Python's shelve: a Python
// worker's statedb is not readable here, nor ours there); it is written to a temporary
// file and renamed over the old one, so a crash mid-write leaves the previous state.
// Writes are coalesced: at most one per kSaveInterval, and one at close().
// Loop thread only.

#include <chrono>
#include <string>
#include <vector>

#include "common/dispatcher.h"
#include "worker/celery/revoked_set.h"

namespace celeriac::worker::app {

class RevokedStore {
 public:
  static constexpr std::chrono::milliseconds kSaveInterval{1000};

  // `path` empty: nothing is persisted. A file that cannot be read is logged and the
  // worker starts with an empty set (a revoke is advisory; refusing to start is worse).
  RevokedStore(common::Dispatcher& dispatcher, std::string path);
  ~RevokedStore();
  RevokedStore(const RevokedStore&) = delete;
  RevokedStore& operator=(const RevokedStore&) = delete;

  void add(const std::vector<std::string>& ids);
  [[nodiscard]] bool contains(const std::string& id);
  [[nodiscard]] std::vector<std::string> ids();
  // `hello` (mingle): a peer's revoked ids are merged, ours returned in Python's form.
  void mergeFromPeer(const nlohmann::json& revoked);
  [[nodiscard]] nlohmann::json forPeer();
  // Writes the file now if anything changed since the last write.
  void flush();

 private:
  void scheduleSave();

  common::Dispatcher& dispatcher_;
  std::string path_;
  celery::RevokedSet set_;
  bool dirty_ = false;
  common::TimerId save_timer_ = 0;
};

}  // namespace celeriac::worker::app
