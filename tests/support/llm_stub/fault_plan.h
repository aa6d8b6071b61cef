#pragma once
// FaultPlan: the faults a test injected at run time through POST /admin/faults.
//
// For: parsing and validating a fault spec, matching it against a request's (model, API
// key), counting down its "count", and listing what is armed. Not for: carrying out a
// fault (Router builds the reply, Connection delivers it).
//
// Matching: a fault applies when its model is "*", equal to the request's model, or a
// prefix pattern ending in '*' ("gpt-4*"), AND its key (if any) equals the request's key.
// Every matching "latency" fault adds its delay; then the OLDEST matching fault of any
// other kind answers the request. Each application consumes one of its count (no count =
// unlimited) and a fault whose count reaches zero disappears.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::testing::stub {

enum class FaultKind {
  kStatus,              // any status code, optional body and headers
  kRateLimit,           // 429 with Retry-After / retry-after-ms
  kHang,                // accept, never answer
  kSlowDrip,            // the normal answer, a few bytes at a time
  kMalformedJson,       // 200 with a truncated JSON body
  kReset,               // TCP RST, no response
  kClose,               // request read, connection closed (FIN, or GOAWAY-less on HTTP/2)
  kInvalidJsonContent,  // well-formed API response; message content is not JSON
  kSchemaViolation,     // content is JSON but breaks the waste-analysis schema
  kLatency,             // extra delay, combines with the others
};

[[nodiscard]] std::string_view faultKindName(FaultKind kind);

struct Fault {
  std::uint64_t id = 0;
  FaultKind kind = FaultKind::kStatus;
  std::string model = "*";
  std::optional<std::string> key;
  std::optional<std::uint64_t> remaining;  // nullopt: unlimited
  std::uint64_t applied = 0;

  int status = 500;                    // kStatus
  std::optional<nlohmann::json> body;  // kStatus: string sent verbatim, else dumped JSON
  nlohmann::json headers = nlohmann::json::object();  // kStatus/kRateLimit: extra headers
  std::optional<double> retry_after_s;                // kRateLimit
  std::optional<std::int64_t> retry_after_ms;         // kRateLimit
  bool retry_after_date = false;                      // kRateLimit: Retry-After as an HTTP date
  std::chrono::milliseconds duration{2000};           // kSlowDrip: total time
  std::size_t chunk_bytes = 8;                        // kSlowDrip
  std::chrono::milliseconds latency{0};               // kLatency

  [[nodiscard]] nlohmann::json toJson() const;
};

struct FaultParse {
  std::optional<Fault> fault;
  std::string error;  // set when fault is empty: which field is wrong and why
};

// Validates one spec object (see README.md "Admin API"). Never throws.
[[nodiscard]] FaultParse parseFault(const nlohmann::json& spec);

struct FaultMatch {
  std::chrono::milliseconds extra_latency{0};
  std::optional<Fault> action;  // a copy of the fault that answers, if any
};

class FaultPlan {
 public:
  // Arms |fault| and returns its id.
  std::uint64_t add(Fault fault);
  void clear() { faults_.clear(); }
  bool remove(std::uint64_t id);
  [[nodiscard]] nlohmann::json toJson() const;

  // Finds and consumes the faults that apply to one request (see the banner).
  FaultMatch take(const std::string& model, const std::string& key);

 private:
  std::vector<Fault> faults_;  // in arming order
  std::uint64_t next_id_ = 1;
};

}  // namespace celeriac::testing::stub
