#pragma once
// ChatRequest and ChatCompletion: one provider-neutral chat call and its answer.
//
// For: what a task hands the Balancer (messages with text and image parts, limits, a
// route or a model, a deadline) and what a codec extracts from a reply. Not for the wire
// format (OpenAiCodec, AnthropicCodec). Plain values; copyable.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::balancer {

// Text shared, not copied, by every copy of a request: an image's data: URL can be
// megabytes, a system prompt is a kilobyte or two that thousands of waiting calls share,
// and a request is copied into the balancer's call while the task keeps its own for a
// repair turn. Immutable once made.
class SharedText {
 public:
  SharedText() = default;
  SharedText(std::string text)  // NOLINT(google-explicit-constructor): a string is one
      : text_(std::make_shared<const std::string>(std::move(text))) {}
  [[nodiscard]] const std::string& str() const {
    static const std::string kEmpty;
    return text_ ? *text_ : kEmpty;
  }
  operator std::string_view() const { return str(); }  // NOLINT(google-explicit-constructor)
  bool operator==(const SharedText& other) const { return str() == other.str(); }

 private:
  std::shared_ptr<const std::string> text_;
};

struct ContentPart {
  enum class Kind { kText, kImageUrl };
  Kind kind = Kind::kText;
  SharedText text;     // kText (shared: a prompt copied with its request is not copied)
  SharedText url;      // kImageUrl: https URL or data: URL (base64)
  std::string detail;  // kImageUrl: OpenAI's "low" | "high" | "auto"; empty = unset

  static ContentPart textPart(std::string t) { return {Kind::kText, std::move(t), {}, {}}; }
  static ContentPart textPart(SharedText t) { return {Kind::kText, std::move(t), {}, {}}; }
  static ContentPart imagePart(std::string u, std::string d = {}) {
    return {Kind::kImageUrl, {}, std::move(u), std::move(d)};
  }
};

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::vector<ContentPart> parts;

  static ChatMessage text(std::string r, std::string t) {
    return {std::move(r), {ContentPart::textPart(std::move(t))}};
  }
  static ChatMessage text(std::string r, SharedText t) {
    return {std::move(r), {ContentPart::textPart(std::move(t))}};
  }
};

// What a caller may demand of the model that serves it, beyond the route (the seeds'
// "smart routing by request context"). Models are judged by the capability table
// (BalancerConfig::capabilities) and the pricing table:
// - a model whose context window cannot hold the prompt estimate plus max_tokens, or
//   whose blended price (input:output 3:1) per 1k tokens is over `max_cost_per_1k`, is
//   never tried (a chain left with none fails at once as a caller error);
// - a candidate expected slower than `max_latency` (its observed peak-EWMA latency, else
//   the table's typical latency) is tried only when no faster one can start now:
//   a slow answer beats none.
struct RoutingConstraints {
  std::optional<std::chrono::milliseconds> max_latency;
  std::optional<double> max_cost_per_1k;  // USD
};

struct ChatRequest {
  // Either a route (task type x priority) or a model; a model wins if both are set.
  std::string task_type;
  std::string priority;
  std::string model;
  std::vector<ChatMessage> messages;
  std::optional<std::int64_t> max_tokens;            // else the endpoint's, else the config's
  std::optional<double> temperature;                 // else the endpoint's
  std::optional<nlohmann::json> response_format;     // OpenAI's object, passed through
  int queue_priority = 0;                            // higher waits less for capacity
  std::optional<std::chrono::milliseconds> timeout;  // else the config's
  std::int64_t estimated_prompt_tokens = 0;          // 0: estimated from the text
  RoutingConstraints constraints;
};

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  [[nodiscard]] std::int64_t total() const { return input_tokens + output_tokens; }
};

struct ChatCompletion {
  std::string content;
  std::string model;  // as the provider reports it
  std::string finish_reason;
  std::optional<Usage> usage;  // nullopt when the provider did not say
};

// A cheap, deliberately generous prompt estimate for bucket reservations: about four
// characters per token, plus per-message overhead and a flat cost per image.
[[nodiscard]] std::int64_t estimatePromptTokens(const ChatRequest& request);

}  // namespace celeriac::balancer
