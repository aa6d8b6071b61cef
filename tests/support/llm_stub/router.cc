// Router: request -> Reply policy (see router.h for the order of decisions).

#include "router.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include "chat_content.h"
#include "rate_limit_headers.h"
#include "response_builder.h"

namespace celeriac::testing::stub {
namespace {

using std::chrono::milliseconds;

std::int64_t unixSeconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

milliseconds headerMs(const HttpRequest& request, std::string_view name) {
  const std::string* v = request.header(name);
  std::int64_t ms = 0;
  if (v == nullptr || std::from_chars(v->data(), v->data() + v->size(), ms).ec != std::errc{}) {
    return milliseconds(0);
  }
  return milliseconds(ms < 0 ? 0 : ms);
}

bool iequalsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::string apiKeyOf(const HttpRequest& request) {
  if (const std::string* auth = request.header("authorization");
      auth != nullptr && iequalsPrefix(*auth, "bearer ")) {
    std::string key = auth->substr(7);
    while (!key.empty() && key.front() == ' ') key.erase(key.begin());
    if (!key.empty()) return key;
  }
  for (const char* name : {"x-api-key", "api-key"}) {
    if (const std::string* v = request.header(name); v != nullptr && !v->empty()) return *v;
  }
  return {};
}

Router::Router(StubConfig config)
    : config_(std::move(config)),
      counter_(config_.rpm_limit, config_.tpm_limit),
      admin_(config_, faults_, counter_, stats_) {}

Reply Router::handle(const HttpRequest& request, WallTime now) {
  std::string_view path = request.path();
  if (path.starts_with("/admin/")) return admin_.handle(request);
  stats_.requestOver(request.protocol);
  // Clients configured with base URL ".../v1" and without both reach the same routes.
  if (path.starts_with("/v1/")) path.remove_prefix(3);

  Api api;
  if (path == "/chat/completions") {
    api = Api::kChat;
  } else if (path == "/embeddings") {
    api = Api::kEmbeddings;
  } else if (path == "/messages") {
    api = Api::kMessages;
  } else if (path == "/models") {
    if (request.method != "GET") return error(Api::kChat, 405, "use GET /v1/models");
    if (apiKeyOf(request).empty()) {
      stats_.requestWithoutKey();
      return error(Api::kChat, 401, "You didn't provide an API key.", "missing_api_key");
    }
    return jsonReply(200, openAiModelsBody(config_.models, unixSeconds(now)));
  } else {
    return error(Api::kChat, 404, "Unknown path " + std::string(request.path()), "unknown_url");
  }
  if (request.method != "POST") {
    return error(api, 405, "use POST " + std::string(request.path()));
  }
  return handleApi(request, api, now);
}

Reply Router::handleApi(const HttpRequest& request, Api api, WallTime now) {
  const std::string key = apiKeyOf(request);
  if (key.empty()) {
    stats_.requestWithoutKey();
    return error(api, 401, "You didn't provide an API key.", "missing_api_key");
  }
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return error(api, 400, "We could not parse the JSON body of your request.");
  }
  if (!body.contains("model") || !body["model"].is_string() ||
      body["model"].get_ref<const std::string&>().empty()) {
    return error(api, 400, "you must provide a model parameter", "missing_model");
  }
  const std::string model = body["model"].get<std::string>();

  const bool early = counter_.recordReceived(key, model, now);
  stats_.each(key, model, [&](TrafficCounters& c) {
    ++c.received;
    if (early) ++c.during_retry_after;
  });

  const FaultMatch match = faults_.take(model, key);
  const milliseconds delay =
      config_.latency + match.extra_latency + headerMs(request, "x-stub-latency-ms");
  ContentMode mode = ContentMode::kNormal;
  bool drip = false;
  Reply reply;
  bool answered_by_fault = false;
  if (match.action) {
    const Fault& f = *match.action;
    const std::string kind(faultKindName(f.kind));
    stats_.each(key, model, [&](TrafficCounters& c) {
      ++c.faults_injected;
      ++c.faults[kind];
    });
    answered_by_fault = true;
    switch (f.kind) {
      case FaultKind::kStatus:
        reply = statusFault(api, f);
        if (f.status == 429) stats_.each(key, model, [](TrafficCounters& c) { ++c.rate_limited; });
        break;
      case FaultKind::kRateLimit: {
        milliseconds wait{0};
        reply = rateLimitFault(api, f, now, wait);
        counter_.noteRetryAfter(key, model, now + wait);
        stats_.each(key, model, [](TrafficCounters& c) { ++c.rate_limited; });
        break;
      }
      case FaultKind::kHang:
        reply.delivery = Delivery::kHang;
        break;
      case FaultKind::kReset:
        reply.delivery = Delivery::kReset;
        break;
      case FaultKind::kClose:
        reply.delivery = Delivery::kClose;
        break;
      case FaultKind::kMalformedJson:
        // Cut mid-string, the way a proxy that drops the connection leaves it.
        reply.response.body =
            R"({"id":"chatcmpl-stub","object":"chat.completion","model":")" + model +
            R"(","choices":[{"index":0,"message":{"role":"assistant","content":"The answ)";
        break;
      case FaultKind::kSlowDrip:
        drip = true;
        answered_by_fault = false;
        break;
      case FaultKind::kInvalidJsonContent:
        mode = ContentMode::kInvalidJson;
        answered_by_fault = false;
        break;
      case FaultKind::kSchemaViolation:
        mode = ContentMode::kSchemaViolation;
        answered_by_fault = false;
        break;
      case FaultKind::kLatency:
        answered_by_fault = false;  // never an action (FaultPlan::take)
        break;
    }
    if (drip) {
      reply.drip_duration = f.duration;
      reply.drip_chunk_bytes = f.chunk_bytes;
    }
  }
  if (answered_by_fault) {
    reply.delay = delay;
    track(reply, key, model);
    return reply;
  }

  std::uint64_t tokens = 0;
  Reply normal = answer(api, body, model, mode, now, tokens);
  if (normal.response.status != 200) {  // e.g. embeddings without "input"
    track(normal, key, model);
    return normal;
  }
  const Admission admission = counter_.admit(key, now, tokens);
  if (!admission.admitted) {
    // Real providers refuse at once; no added latency.
    Reply refusal = limiterRefusal(api, key, admission.retry_after, now);
    counter_.noteRetryAfter(key, model, now + admission.retry_after);
    stats_.each(key, model, [](TrafficCounters& c) {
      ++c.rate_limited;
      ++c.limiter_rejections;
    });
    track(refusal, key, model);
    return refusal;
  }
  const WindowSnapshot window = counter_.snapshot(key, now);
  if (api == Api::kMessages) {
    addAnthropicRateLimitHeaders(normal.response, window, now);
  } else {
    addOpenAiRateLimitHeaders(normal.response, window);
  }
  normal.delay = delay;
  if (drip) {
    normal.delivery = Delivery::kSlowDrip;
    normal.drip_duration = reply.drip_duration;
    normal.drip_chunk_bytes = reply.drip_chunk_bytes;
  }
  track(normal, key, model);
  return normal;
}

Reply Router::answer(Api api, const nlohmann::json& body, const std::string& model,
                     ContentMode mode, WallTime now, std::uint64_t& tokens) {
  const std::uint64_t n = next_id_++;
  if (api == Api::kEmbeddings) {
    std::vector<std::string> inputs;
    const auto& input = body.contains("input") ? body["input"] : nlohmann::json();
    if (input.is_string()) {
      inputs.push_back(input.get<std::string>());
    } else if (input.is_array() && !input.empty() && input[0].is_number()) {
      inputs.push_back(input.dump());  // one pre-tokenised input
    } else if (input.is_array()) {
      for (const auto& item : input) {
        inputs.push_back(item.is_string() ? item.get<std::string>() : item.dump());
      }
    }
    if (inputs.empty()) return error(api, 400, "input: must be a string or an array");
    std::size_t dims = config_.embedding_dimensions;
    if (body.contains("dimensions") && body["dimensions"].is_number_unsigned()) {
      dims = std::clamp<std::size_t>(body["dimensions"].get<std::size_t>(), 1, 4096);
    }
    for (const auto& text : inputs) tokens += estimateTokens(text);
    return jsonReply(200, openAiEmbeddingsBody(model, inputs, dims, tokens));
  }

  const ApiFlavor flavor = api == Api::kMessages ? ApiFlavor::kAnthropic : ApiFlavor::kOpenAi;
  const PromptView prompt = readPrompt(body, flavor);
  const std::string content = chatContent(prompt, model, mode);
  Usage usage{estimateTokens(prompt),
              config_.completion_tokens > 0 ? config_.completion_tokens : estimateTokens(content)};
  tokens = usage.prompt_tokens + usage.completion_tokens;
  if (api == Api::kMessages) {
    return jsonReply(200,
                     anthropicMessageBody("msg_stub_" + std::to_string(n), model, content, usage));
  }
  return jsonReply(200, openAiChatBody("chatcmpl-stub-" + std::to_string(n), model,
                                       unixSeconds(now), content, usage));
}

Reply Router::statusFault(Api api, const Fault& fault) const {
  Reply reply = error(api, fault.status, "injected fault: status " + std::to_string(fault.status));
  if (fault.body) {
    reply.response.body =
        fault.body->is_string() ? fault.body->get<std::string>() : fault.body->dump();
  }
  for (const auto& [name, value] : fault.headers.items()) {
    reply.response.addHeader(name, value.get<std::string>());
  }
  return reply;
}

Reply Router::rateLimitFault(Api api, const Fault& fault, WallTime now, milliseconds& wait) const {
  Reply reply = error(api, 429, "injected fault: rate limit reached", "rate_limit_exceeded");
  // With neither field given the stub still says when to come back: one second. With
  // both, the later one counts (clients are told to honour the latest).
  const std::optional<milliseconds> from_s =
      fault.retry_after_s
          ? std::optional(
                milliseconds(static_cast<std::int64_t>(std::ceil(*fault.retry_after_s * 1000.0))))
          : std::nullopt;
  const std::optional<milliseconds> from_ms =
      fault.retry_after_ms ? std::optional(milliseconds(*fault.retry_after_ms)) : std::nullopt;
  wait = milliseconds(1000);
  if (from_s && from_ms) {
    wait = std::max(*from_s, *from_ms);
  } else if (from_s) {
    wait = *from_s;
  } else if (from_ms) {
    wait = *from_ms;
  }
  auto& r = reply.response;
  if (fault.retry_after_date) {
    r.addHeader("Retry-After", formatHttpDate(now + wait));
  } else if (fault.retry_after_s) {
    const double s = *fault.retry_after_s;
    r.addHeader("Retry-After", s == static_cast<double>(static_cast<std::int64_t>(s))
                                   ? std::to_string(static_cast<std::int64_t>(s))
                                   : nlohmann::json(s).dump());
  } else if (!fault.retry_after_ms) {
    r.addHeader("Retry-After", "1");
  }
  if (fault.retry_after_ms) r.addHeader("retry-after-ms", std::to_string(*fault.retry_after_ms));
  if (api == Api::kMessages) {
    r.addHeader("anthropic-ratelimit-requests-remaining", "0");
    r.addHeader("anthropic-ratelimit-requests-reset", formatRfc3339(now + wait));
  } else {
    r.addHeader("x-ratelimit-remaining-requests", "0");
    r.addHeader("x-ratelimit-reset-requests", formatGoDuration(wait));
  }
  for (const auto& [name, value] : fault.headers.items())
    r.addHeader(name, value.get<std::string>());
  return reply;
}

Reply Router::limiterRefusal(Api api, const std::string& key, milliseconds wait, WallTime now) {
  Reply reply = error(api, 429,
                      "Rate limit reached for requests: limit " +
                          std::to_string(counter_.rpmLimit()) + " per min. (llm-stub)",
                      "rate_limit_exceeded");
  reply.response.addHeader("Retry-After", formatRetryAfterSeconds(wait));
  reply.response.addHeader("retry-after-ms", std::to_string(wait.count()));
  const WindowSnapshot window = counter_.snapshot(key, now);
  if (api == Api::kMessages) {
    addAnthropicRateLimitHeaders(reply.response, window, now);
  } else {
    addOpenAiRateLimitHeaders(reply.response, window);
  }
  return reply;
}

Reply Router::error(Api api, int status, const std::string& message,
                    const std::string& code) const {
  if (api == Api::kMessages)
    return jsonReply(status, anthropicError(anthropicErrorType(status), message));
  return jsonReply(status, openAiError(message, openAiErrorType(status), code));
}

void Router::track(Reply& reply, const std::string& key, const std::string& model) {
  reply.ticket = ReplyTicket{true, key, model};
  stats_.each(key, model, [](TrafficCounters& c) { ++c.in_flight; });
  stats_.notePeaks();
}

void Router::finished(const Reply& reply, bool delivered) {
  if (!reply.ticket.tracked) return;
  const int status = reply.response.status;
  stats_.each(reply.ticket.key, reply.ticket.model, [&](TrafficCounters& c) {
    --c.in_flight;
    if (!delivered) {
      ++c.dropped;
      return;
    }
    ++c.by_status[status];
    if (status >= 200 && status < 300) ++c.served;
  });
}

}  // namespace celeriac::testing::stub
