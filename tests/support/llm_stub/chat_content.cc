// ChatContent: deterministic prompt reading and answers (see chat_content.h).

#include "chat_content.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace celeriac::testing::stub {
namespace {

constexpr std::string_view kAnalysisMarker = "[llm-stub:analysis]";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool containsCi(std::string_view haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

// FNV-1a: a stable hash (std::hash may differ between library versions).
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

void appendText(std::string& out, std::string_view text) {
  if (!out.empty()) out += "\n";
  out += text;
}

// Reads a message "content": a string, or an array of parts. OpenAI parts are
// {"type":"text","text"} and {"type":"image_url","image_url":{"url"}}; Anthropic parts
// are {"type":"text","text"} and {"type":"image","source":{...}}.
void readContent(const nlohmann::json& content, std::string& text, std::uint64_t& images) {
  if (content.is_string()) {
    appendText(text, content.get_ref<const std::string&>());
    return;
  }
  if (!content.is_array()) return;
  for (const auto& part : content) {
    if (!part.is_object()) continue;
    const std::string type = part.value("type", "");
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      appendText(text, part["text"].get_ref<const std::string&>());
    } else if (type == "image_url" || type == "image") {
      ++images;
    }
  }
}

struct CategoryInfo {
  std::string_view category;
  std::string_view material;
  std::string_view item;
  bool needs_cleaning;
  bool needs_separation;
};

// Ten of the categories in schemas/analysis_result.schema.json's enum (not vinyl,
// styrofoam or large_waste), one typical item for each.
constexpr std::array<CategoryInfo, 10> kCategories{{
    {"plastic", "PET", "plastic bottle", true, true},
    {"paper", "cardboard", "cardboard box", false, true},
    {"glass", "glass", "glass jar", true, true},
    {"metal", "aluminium", "aluminium can", true, false},
    {"food", "organic", "food scraps", false, false},
    {"general", "mixed", "mixed waste", false, false},
    {"hazardous", "lithium battery", "battery", false, true},
    {"electronics", "mixed electronics", "phone charger", false, true},
    {"textile", "cotton", "t-shirt", false, false},
    {"other", "unknown", "unidentified object", false, false},
}};

const CategoryInfo& pickCategory(const PromptView& prompt) {
  // A hint that names a category wins, so tests can steer the answer; otherwise the
  // prompt's hash picks one, so different photos get different (but stable) answers.
  const std::string hint = lower(prompt.last_user_text);
  for (const auto& c : kCategories) {
    if (hint.find(c.category) != std::string::npos) return c;
  }
  return kCategories[fnv1a(prompt.all_text) % kCategories.size()];
}

std::string firstChars(std::string_view s, std::size_t n) {
  return std::string(s.substr(0, std::min(n, s.size())));
}

}  // namespace

PromptView readPrompt(const nlohmann::json& body, ApiFlavor flavor) {
  PromptView p;
  if (flavor == ApiFlavor::kAnthropic && body.contains("system")) {
    std::uint64_t ignored = 0;
    readContent(body["system"], p.system_text, ignored);
    appendText(p.all_text, p.system_text);
  }
  if (body.contains("messages") && body["messages"].is_array()) {
    for (const auto& m : body["messages"]) {
      if (!m.is_object() || !m.contains("content")) continue;
      const std::string role = m.value("role", "");
      std::string text;
      readContent(m["content"], text, p.image_parts);
      if (role == "system" || role == "developer") appendText(p.system_text, text);
      if (role == "user") p.last_user_text = text;
      appendText(p.all_text, text);
    }
  }
  if (flavor == ApiFlavor::kOpenAi && body.contains("response_format") &&
      body["response_format"].is_object()) {
    const auto& rf = body["response_format"];
    const std::string type = rf.value("type", "");
    p.wants_json = type == "json_object" || type == "json_schema";
    if (type == "json_schema" && rf.contains("json_schema") && rf["json_schema"].is_object()) {
      const std::string name = lower(rf["json_schema"].value("name", ""));
      p.schema_says_analysis =
          name.find("analysis") != std::string::npos || name.find("waste") != std::string::npos;
    }
  }
  if (flavor == ApiFlavor::kAnthropic) p.wants_json = containsCi(p.all_text, "json");
  return p;
}

std::uint64_t estimateTokens(const std::string& text) {
  return std::max<std::uint64_t>(1, (text.size() + 3) / 4);
}

std::uint64_t estimateTokens(const PromptView& prompt) {
  return estimateTokens(prompt.all_text) + 85 * prompt.image_parts;
}

bool isAnalysisRequest(const PromptView& prompt) {
  // A waste *photo* analysis carries an image; a text-only request that merely talks
  // about waste (the user-facing answer built from an analysis) gets the answer shape.
  return prompt.wants_json &&
         (prompt.schema_says_analysis ||
          (prompt.image_parts > 0 && containsCi(prompt.system_text, "waste")) ||
          prompt.system_text.find(kAnalysisMarker) != std::string::npos ||
          prompt.all_text.find(kAnalysisMarker) != std::string::npos);
}

nlohmann::json analysisObject(const PromptView& prompt) {
  const CategoryInfo& c = pickCategory(prompt);
  const std::uint64_t h = fnv1a(prompt.all_text);
  // 0.80 .. 0.99 in hundredths: plausible, stable, inside the schema's 0..1.
  const double confidence = 0.80 + static_cast<double>(h % 20) / 100.0;
  std::string reason = "Detected a " + std::string(c.item) + " (" + std::string(c.material) + ")";
  if (c.needs_cleaning) reason += "; rinse it";
  if (c.needs_separation) reason += "; separate its parts";
  reason += " before disposal as " + std::string(c.category) + ".";
  return {{"items",
           {{{"name", c.item},
             {"category", c.category},
             {"material", c.material},
             {"needs_cleaning", c.needs_cleaning},
             {"needs_separation", c.needs_separation},
             {"confidence", confidence}}}},
          {"overall_category", c.category},
          {"reason", reason}};
}

std::string chatContent(const PromptView& prompt, const std::string& model, ContentMode mode) {
  switch (mode) {
    case ContentMode::kInvalidJson:
      return "Sure! Here is the analysis: {\"items\": [{\"name\": \"plastic bottle\", "
             "\"category\": plastic, confidence: 0.9";
    case ContentMode::kSchemaViolation:
      return nlohmann::json{{"items",
                             {{{"name", "mystery object"},
                               {"category", "banana"},
                               {"material", 42},
                               {"needs_cleaning", "maybe"},
                               {"needs_separation", true},
                               {"confidence", 7}}}},
                            {"overall_category", "banana"}}
          .dump();
    case ContentMode::kNormal:
      break;
  }
  if (isAnalysisRequest(prompt)) return analysisObject(prompt).dump();
  const std::string echo = firstChars(prompt.last_user_text, 200);
  if (prompt.wants_json) {
    return nlohmann::json{{"answer", "[llm-stub model=" + model + "] " + echo},
                          {"steps",
                           {{{"order", 1}, {"action", "Check the item category."}},
                            {{"order", 2}, {"action", "Follow the local rule."}}}},
                          {"model", model}}
        .dump();
  }
  return "[llm-stub model=" + model + "] You said: " + echo;
}

}  // namespace celeriac::testing::stub
