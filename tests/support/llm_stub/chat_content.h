#pragma once
// ChatContent: what the stub "says", deterministically, for a chat request.
//
// For: reading the prompt out of an OpenAI chat or Anthropic messages body (text and
// image parts), estimating its tokens, and producing the assistant's text:
//   - JSON mode (OpenAI response_format json_object/json_schema; for Anthropic, a prompt
//     that mentions "json") AND a waste prompt (system text contains "waste", or the
//     marker "[llm-stub:analysis]", or a json_schema named like "*analysis*"/"*waste*"):
//     a waste-analysis object shaped like the analysis result schema;
//   - other JSON requests: {"answer": ..., "steps": [...], "model": ...};
//   - otherwise a text answer "[llm-stub model=<model>] ..." that echoes the last user text.
// Faults can ask for content that is not JSON, or JSON that breaks the analysis schema.
// Same request in, same bytes out: no clock, no randomness, no counters.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace celeriac::testing::stub {

enum class ApiFlavor { kOpenAi, kAnthropic };

enum class ContentMode {
  kNormal,
  kInvalidJson,      // prose with a broken JSON fragment
  kSchemaViolation,  // valid JSON, category "banana", confidence 7, reason missing
};

struct PromptView {
  std::string system_text;     // system messages / Anthropic "system", joined
  std::string last_user_text;  // text parts of the last user message
  std::string all_text;        // every text part, for the token estimate
  std::uint64_t image_parts = 0;
  bool wants_json = false;
  bool schema_says_analysis = false;
};

[[nodiscard]] PromptView readPrompt(const nlohmann::json& body, ApiFlavor flavor);

// chars/4 rounded up, plus 85 per image (OpenAI's low-detail image cost), at least 1.
[[nodiscard]] std::uint64_t estimateTokens(const PromptView& prompt);
[[nodiscard]] std::uint64_t estimateTokens(const std::string& text);

[[nodiscard]] bool isAnalysisRequest(const PromptView& prompt);

// The assistant message content for |prompt| answered as |model|.
[[nodiscard]] std::string chatContent(const PromptView& prompt, const std::string& model,
                                      ContentMode mode);

// The analysis object alone (what chatContent returns, parsed), for tests and docs.
[[nodiscard]] nlohmann::json analysisObject(const PromptView& prompt);

}  // namespace celeriac::testing::stub
