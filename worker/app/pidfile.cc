#include "worker/app/pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace celeriac::worker::app {

namespace {

// The pid a pidfile names, or 0 when it names none.
pid_t readPid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

bool alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

Pidfile::~Pidfile() {
  if (!path_.empty() && readPid(path_) == getpid()) unlink(path_.c_str());
}

common::Result<void> Pidfile::create(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string text = std::to_string(getpid()) + "\n";
      const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      close(fd);
      if (!ok) {
        unlink(path.c_str());
        return common::Error{"cannot write " + path};
      }
      path_ = path;
      return {};
    }
    if (errno != EEXIST) {
      return common::Error{"cannot create " + path + ": " + std::strerror(errno)};
    }
    const pid_t owner = readPid(path);
    if (alive(owner)) {
      return common::Error{"pidfile " + path + " is held by running process " +
                           std::to_string(owner)};
    }
    unlink(path.c_str());  // stale: its process is gone
  }
  return common::Error{"pidfile " + path + " keeps reappearing"};
}

}  // namespace celeriac::worker::app
