// Endpoints: the contracts are in endpoints.h.
#include "core/endpoints.h"

#include <utility>

namespace celeriac::balancer {

Endpoints::Endpoints(CircuitBreakerOptions breaker, AdmissionControl& admission, const Clock& clock)
    : breaker_(std::move(breaker)), admission_(admission), clock_(clock) {}

void Endpoints::add(EndpointState endpoint) { list_.push_back(std::move(endpoint)); }

Target& Endpoints::target(std::size_t endpoint, std::string_view model) {
  auto& targets = list_[endpoint].targets;
  auto it = targets.find(model);
  if (it == targets.end()) {
    it = targets
             .emplace(std::string(model),
                      Target{CircuitBreaker(breaker_), PeakEwma(), TargetStats(), 0})
             .first;
    const SteadyTime now = clock_.now();
    for (const KeyState& key : list_[endpoint].keys) {
      it->second.admission.push_back(&admission_.entry(key.pool, model, now));
    }
  }
  return it->second;
}

ModelRow& Endpoints::modelRow(std::string_view model) {
  auto it = model_rows_.find(model);
  if (it != model_rows_.end()) return it->second;
  ModelRow row;
  for (std::size_t e = 0; e < list_.size(); ++e) {
    if (serves(list_[e].config, model)) row.endpoints.push_back(e);
  }
  row.targets.assign(row.endpoints.size(), nullptr);
  return model_rows_.emplace(std::string(model), std::move(row)).first->second;
}

}  // namespace celeriac::balancer
