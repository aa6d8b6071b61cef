#include "worker/celery/python_isoformat.h"

#include "worker/celery/iso_time.h"

namespace celeriac::worker::celery {

std::string pythonIsoformat(std::chrono::system_clock::time_point time) {
  std::string text = formatIsoTime(time);  // "....:SS.ffffff+00:00"
  constexpr std::string_view kZeroFraction = ".000000";
  const auto dot = text.rfind('.');
  if (dot != std::string::npos && text.compare(dot, kZeroFraction.size(), kZeroFraction) == 0) {
    text.erase(dot, kZeroFraction.size());
  }
  return text;
}

}  // namespace celeriac::worker::celery
