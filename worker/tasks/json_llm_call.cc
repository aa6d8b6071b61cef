#include "worker/tasks/json_llm_call.h"

#include <spdlog/spdlog.h>

#include "worker/tasks/llm_errors.h"

namespace celeriac::worker::tasks {

namespace {

// The failing answer is echoed back in the repair request; a runaway answer is cut so
// the repair prompt stays within the model's context.
constexpr std::size_t kMaxEchoedAnswerChars = 16000;

std::shared_ptr<spdlog::logger> logger() {
  auto existing = spdlog::get("celeriac.tasks");
  return existing ? existing : spdlog::default_logger()->clone("celeriac.tasks");
}

std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

celery::ExceptionInfo requestNotHandedBack() {
  return celery::makeException("RuntimeError",
                               "cannot repair the model's answer: the request was not handed back",
                               "builtins");
}

}  // namespace

common::Result<nlohmann::json> JsonLlmCall::parseContent(const std::string& content) {
  std::string_view text = trim(content);
  if (text.starts_with("```")) {
    const auto first_newline = text.find('\n');
    const auto last_fence = text.rfind("```");
    if (first_newline != std::string_view::npos && last_fence > first_newline) {
      text = trim(text.substr(first_newline + 1, last_fence - first_newline - 1));
    }
  }
  if (text.empty()) return common::Error{"not valid JSON: the answer is empty"};
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at ...": keep the part
    // a model (and a person) can act on.
    std::string what = e.what();
    const auto bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    return common::Error{"not valid JSON: " + what};
  }
}

std::unique_ptr<JsonLlmCall> JsonLlmCall::start(balancer::Balancer& balancer,
                                                balancer::ChatRequest request,
                                                const SchemaValidator& schema,
                                                const PromptTemplate& repair_prompt,
                                                std::string task_id, Done done) {
  std::unique_ptr<JsonLlmCall> call(new JsonLlmCall(
      balancer, std::move(request), schema, repair_prompt, std::move(task_id), std::move(done)));
  call->submit();
  return call;
}

JsonLlmCall::JsonLlmCall(balancer::Balancer& balancer, balancer::ChatRequest request,
                         const SchemaValidator& schema, const PromptTemplate& repair_prompt,
                         std::string task_id, Done done)
    : balancer_(balancer),
      request_(std::move(request)),
      schema_(schema),
      repair_prompt_(repair_prompt),
      task_id_(std::move(task_id)),
      done_(std::move(done)) {}

JsonLlmCall::~JsonLlmCall() { cancel(); }

void JsonLlmCall::cancel() {
  lifetime_.revoke();
  done_ = nullptr;
  if (in_flight_) {
    in_flight_ = false;
    balancer_.cancel(call_);  // its kCancelled callback finds the lifetime revoked
  }
}

void JsonLlmCall::submit() {
  in_flight_ = true;
  auto on_result = [this, life = lifetime_.watch()](balancer::CallResult result) {
    if (!life.alive()) return;
    // Called from the balancer under a C trampoline (noexcept): whatever reading the
    // model's reply throws fails this call's task, never the process. finish() runs
    // once; a throw from inside `done` itself finds done_ already taken.
    try {
      onResult(std::move(result));
    } catch (const std::exception& e) {
      if (life.alive()) finish({false, nullptr, {}, Failure{celery::fromCppException(e)}});
    }
  };
  // Moved, not copied: the balancer keeps the request while the call waits and hands it
  // back in the result, where a repair takes it again (CallResult::request).
  // Balancer::submit never calls back inside itself, so call_ is set before onResult.
  call_ = balancer_.submit(std::move(request_), std::move(on_result));
}

void JsonLlmCall::onResult(balancer::CallResult result) {
  in_flight_ = false;
  if (!result.ok()) {
    finish({false, nullptr, {}, fromCallFailure(result)});
    return;
  }
  const auto& success = result.success();
  meta_.add(success);

  std::string error;
  std::vector<SchemaError> errors;
  auto value = parseContent(success.content);
  if (value) {
    errors = schema_.validate(*value);
    if (!errors.empty()) error = "schema: " + errors.front().toString();
  } else {
    error = value.error().message;
  }
  if (error.empty()) {
    finish({true, std::move(value).value(), meta_, {}});
    return;
  }
  if (!first_error_.empty()) {
    finish({false, nullptr, {}, Failure{invalidModelOutput(first_error_, error)}});
    return;
  }
  if (!result.request) {  // the balancer always hands a chat request back
    finish({false, nullptr, {}, Failure{requestNotHandedBack()}});
    return;
  }
  request_ = std::move(*result.request);
  first_error_ = error;
  // Model output problems are the model's, not the caller's: worth seeing, not alarming.
  logger()->info("llm_repair task_id={} model={} endpoint={} error=\"{}\"", task_id_, success.model,
                 success.endpoint, redactForLog(error, 300));
  // The repair: the model sees its own answer and exactly what was wrong with it.
  const std::string feedback = errors.empty() ? error : joinErrors(errors, 10);
  std::string echoed = success.content.substr(0, kMaxEchoedAnswerChars);
  request_.messages.push_back(balancer::ChatMessage::text("assistant", std::move(echoed)));
  request_.messages.push_back(
      balancer::ChatMessage::text("user", repair_prompt_.render({{"errors", feedback}})));
  request_.estimated_prompt_tokens = 0;  // re-estimate with the longer conversation
  submit();
}

void JsonLlmCall::finish(JsonLlmOutcome outcome) {
  // done_ may destroy this: move it out and touch no member afterwards.
  auto done = std::move(done_);
  done_ = nullptr;
  lifetime_.revoke();
  if (done) done(std::move(outcome));
}

}  // namespace celeriac::worker::tasks
