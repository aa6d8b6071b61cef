#pragma once
// JsonLlmCall: one LLM answer that must be a JSON object valid against a schema, with
// exactly one repair attempt.
//
//   start ──submit──▶ answer ──parse + validate ok──────────────────▶ done(value, meta)
//                       │ not JSON / breaks the schema
//                       ▼
//         submit(same messages + the answer as assistant + user: "errors ...")
//                       │
//                       ├─ ok ──────────────────────────────────────▶ done(value, meta)
//                       └─ invalid again ───────────────────────────▶ done(InvalidModelOutput)
//   any balancer failure (either call) ────────────────────────────▶ done(fromCallFailure)
//   cancel() or destruction ──▶ Balancer::cancel(); done never fires
//
// What for: the shared engine of analyze and generate. What not: it knows nothing of
// task arguments or result shapes; the caller builds the request and projects the value.
// It is the TaskRun the LLM task handlers return.
// Loop thread only. Borrows the Balancer, the schema and the repair prompt: all must
// outlive the call. `done` fires at most once, from the loop, never inside start() or
// cancel(); it may destroy the JsonLlmCall.

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "balancer/balancer.h"
#include "common/lifetime_token.h"
#include "common/result.h"
#include "worker/celery/exception_info.h"
#include "worker/tasks/llm_errors.h"
#include "worker/tasks/llm_meta.h"
#include "worker/tasks/prompt_template.h"
#include "worker/tasks/schema_validator.h"
#include "worker/tasks/task_registry.h"

namespace celeriac::worker::tasks {

struct JsonLlmOutcome {
  bool ok = false;
  nlohmann::json value;    // ok: the model's object, valid against the schema
  LlmMeta meta;            // ok: summed over both calls
  LlmCallFailure failure;  // !ok: a Failure, or Unavailable (no model can take it now)
};

class JsonLlmCall final : public TaskRun {
 public:
  using Done = std::function<void(JsonLlmOutcome)>;

  // The repair prompt gets {{errors}}: the validation errors of the answer. `task_id`
  // only labels log lines.
  static std::unique_ptr<JsonLlmCall> start(balancer::Balancer& balancer,
                                            balancer::ChatRequest request,
                                            const SchemaValidator& schema,
                                            const PromptTemplate& repair_prompt,
                                            std::string task_id, Done done);
  ~JsonLlmCall() override;
  JsonLlmCall(const JsonLlmCall&) = delete;
  JsonLlmCall& operator=(const JsonLlmCall&) = delete;

  // Stops the call in flight; `done` will not fire. Idempotent.
  void cancel() override;
  // An LLM call waits seconds: the pipeline packs its job meanwhile.
  [[nodiscard]] bool waitsLong() const override { return true; }

  // Parses model content as JSON: tolerates surrounding whitespace and one ```json
  // fence (some models add one even in JSON mode). The Error says why it is not JSON.
  static common::Result<nlohmann::json> parseContent(const std::string& content);

 private:
  JsonLlmCall(balancer::Balancer& balancer, balancer::ChatRequest request,
              const SchemaValidator& schema, const PromptTemplate& repair_prompt,
              std::string task_id, Done done);
  void submit();
  void onResult(balancer::CallResult result);
  void finish(JsonLlmOutcome outcome);

  balancer::Balancer& balancer_;
  // Empty while a call is in flight: submit() moves it into the balancer, which hands
  // it back with the result (CallResult::request) for the repair.
  balancer::ChatRequest request_;
  const SchemaValidator& schema_;
  const PromptTemplate& repair_prompt_;
  std::string task_id_;
  Done done_;
  LlmMeta meta_;
  std::string first_error_;  // set once the first answer failed: we are repairing
  balancer::CallId call_ = 0;
  bool in_flight_ = false;
  // Balancer callbacks hold a watch of it: once the JsonLlmCall is gone (or cancelled,
  // or finished) they do nothing.
  common::LifetimeToken lifetime_;
};

}  // namespace celeriac::worker::tasks
