#pragma once
// Reads one sample out of a prometheus-cpp registry, for the metrics unit tests.

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <optional>
#include <string>

namespace celeriac::worker::metrics::test {

// The value of `family`'s metric with exactly `labels` (a counter's or gauge's value, a
// histogram's sample count), or nullopt when there is none.
inline std::optional<double> sample(const prometheus::Registry& registry,
                                    const std::string& family,
                                    const std::map<std::string, std::string>& labels) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : m.label) have[l.name] = l.value;
      if (have != labels) continue;
      switch (f.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Gauge:
          return m.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

inline std::string render(const prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace celeriac::worker::metrics::test
