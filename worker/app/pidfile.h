#pragma once
// Pidfile: Celery's --pidfile. Created exclusively with this process id at start and
// removed at exit; a file left by a process that is gone (a crash) is replaced, but
// one whose process still runs makes the start fail, as Celery refuses a second worker
// on the same pidfile.

#include <string>

#include "common/result.h"

namespace celeriac::worker::app {

class Pidfile {
 public:
  Pidfile() = default;
  ~Pidfile();
  Pidfile(const Pidfile&) = delete;
  Pidfile& operator=(const Pidfile&) = delete;

  // An Error when another live process owns `path` or it cannot be written.
  common::Result<void> create(const std::string& path);

 private:
  std::string path_;
};

}  // namespace celeriac::worker::app
