#include "worker/celery/task_id.h"

#include <cstdio>

namespace celeriac::worker::celery {

std::string uuid4(std::uint64_t high, std::uint64_t low) {
  const std::uint64_t hi = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const std::uint64_t lo = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

}  // namespace celeriac::worker::celery
