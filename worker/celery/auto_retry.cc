#include "worker/celery/auto_retry.h"

#include <algorithm>

namespace celeriac::worker::celery {

std::chrono::seconds exponentialBackoff(int factor, int retries, int maximum_s, bool full_jitter,
                                        std::uint64_t random) {
  // Python's integers do not overflow: factor * 2**retries only ever exceeds the
  // maximum, so saturate there instead of shifting past 63 bits.
  const std::int64_t maximum = std::max(0, maximum_s);
  std::int64_t countdown = maximum;
  if (factor <= 0) {
    countdown = std::min<std::int64_t>(maximum, 0);
  } else if (retries < 0) {
    countdown = 0;  // 2 ** -n is a fraction below 1 in Python; int() of the result is 0
  } else if (retries < 40) {
    countdown = std::min<std::int64_t>(maximum, std::int64_t{factor} << retries);
  }
  if (full_jitter) {
    countdown = static_cast<std::int64_t>(random % static_cast<std::uint64_t>(countdown + 1));
  }
  return std::chrono::seconds(std::max<std::int64_t>(0, countdown));
}

bool autoRetryMatches(const std::vector<std::string>& type_names, const ExceptionInfo& error) {
  const std::string qualified = error.module.empty() ? error.type : error.module + "." + error.type;
  return std::any_of(type_names.begin(), type_names.end(), [&](const std::string& name) {
    return name == "Exception" || name == "BaseException" || name == error.type ||
           name == qualified;
  });
}

}  // namespace celeriac::worker::celery
