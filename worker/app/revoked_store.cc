#include "worker/app/revoked_store.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace celeriac::worker::app {

namespace {
std::shared_ptr<spdlog::logger> log() {
  auto existing = spdlog::get("celeriac");
  return existing ? existing : spdlog::default_logger();
}
}  // namespace

RevokedStore::RevokedStore(common::Dispatcher& dispatcher, std::string path)
    : dispatcher_(dispatcher), path_(std::move(path)) {
  if (path_.empty()) return;
  std::ifstream in(path_);
  if (!in) {
    log()->info("statedb {} not found: starting with no revoked tasks", path_);
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json saved = nlohmann::json::parse(text.str(), nullptr, false);
  auto restored =
      celery::RevokedSet::fromJson(saved, dispatcher_.clock().now(), dispatcher_.clock().wallNow());
  if (!restored) {
    log()->error("statedb {} is not a celeriac state file ({}): starting with no revoked tasks",
                 path_, restored.error().message);
    return;
  }
  set_ = std::move(restored).value();
  log()->info("statedb {}: {} revoked task ids restored", path_, set_.size());
}

RevokedStore::~RevokedStore() {
  if (save_timer_ != 0) dispatcher_.cancel(save_timer_);
}

void RevokedStore::add(const std::vector<std::string>& ids) {
  const auto now = dispatcher_.clock().now();
  for (const std::string& id : ids) set_.add(id, now);
  scheduleSave();
}

bool RevokedStore::contains(const std::string& id) {
  return !set_.empty() && set_.contains(id, dispatcher_.clock().now());
}

std::vector<std::string> RevokedStore::ids() {
  set_.purge(dispatcher_.clock().now());
  return set_.ids();
}

void RevokedStore::mergeFromPeer(const nlohmann::json& revoked) {
  if (set_.mergeHello(revoked, dispatcher_.clock().now()) > 0) scheduleSave();
}

nlohmann::json RevokedStore::forPeer() {
  return set_.helloReply(dispatcher_.clock().now(), 0).at("revoked");
}

void RevokedStore::scheduleSave() {
  dirty_ = true;
  if (path_.empty() || save_timer_ != 0) return;
  save_timer_ = dispatcher_.schedule(kSaveInterval, [this] {
    save_timer_ = 0;
    flush();
  });
}

void RevokedStore::flush() {
  if (path_.empty() || !dirty_) return;
  dirty_ = false;
  // Small (at most 50,000 ids), written at most once a second: a synchronous write is
  // cheaper than a thread hop, and rename() makes it atomic.
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << set_.toJson(dispatcher_.clock().now(), dispatcher_.clock().wallNow()).dump();
    if (!out.flush()) {
      log()->error("statedb {}: cannot write {}", path_, tmp);
      return;
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    log()->error("statedb {}: cannot replace it with {}", path_, tmp);
  }
}

}  // namespace celeriac::worker::app
