#include "worker/tasks/prompt_template.h"

#include <fstream>
#include <sstream>

namespace celeriac::worker::tasks {

namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";

bool isNameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// Calls on_text(literal) and on_name(name) in order over the template.
template <typename OnText, typename OnName>
void scan(std::string_view text, OnText on_text, OnName on_name) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    const auto close = text.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) break;
    const auto name = text.substr(open + kOpen.size(), close - open - kOpen.size());
    bool valid = !name.empty();
    for (char c : name) valid = valid && isNameChar(c);
    if (!valid) {  // not a placeholder: keep the braces literally and move on
      on_text(text.substr(pos, open + kOpen.size() - pos));
      pos = open + kOpen.size();
      continue;
    }
    on_text(text.substr(pos, open - pos));
    on_name(name);
    pos = close + kClose.size();
  }
  on_text(text.substr(pos));
}

}  // namespace

PromptTemplate::PromptTemplate(std::string text) : text_(std::move(text)) {
  scan(
      text_, [](std::string_view) {},
      [this](std::string_view name) { placeholders_.emplace(name); });
}

common::Result<PromptTemplate> PromptTemplate::fromFile(
    const std::filesystem::path& file, const std::set<std::string, std::less<>>& allowed) {
  std::ifstream in(file);
  if (!in) return common::Error{"cannot read prompt file " + file.string()};
  std::ostringstream buffer;
  buffer << in.rdbuf();
  PromptTemplate t(buffer.str());
  if (t.text_.find_first_not_of(" \t\r\n") == std::string::npos) {
    return common::Error{"prompt file " + file.string() + " is empty"};
  }
  for (const auto& name : t.placeholders_) {
    if (!allowed.contains(name)) {
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      return common::Error{"prompt file " + file.string() + " uses unknown placeholder {{" + name +
                           "}} (allowed: " + names + ")"};
    }
  }
  return t;
}

std::string PromptTemplate::render(
    const std::map<std::string, std::string, std::less<>>& values) const {
  std::string out;
  out.reserve(text_.size());
  scan(
      text_, [&out](std::string_view literal) { out += literal; },
      [&out, &values](std::string_view name) {
        const auto it = values.find(name);
        if (it != values.end()) out += it->second;
      });
  return out;
}

balancer::SharedText PromptTemplate::renderShared(
    const std::map<std::string, std::string, std::less<>>& values) const {
  std::string key;
  for (const auto& name : placeholders_) {
    // Each value with its length in front, so no two sets of values make the same key.
    const auto it = values.find(name);
    const std::string_view value = it != values.end() ? std::string_view(it->second) : "";
    key.append(std::to_string(value.size())).append(":").append(value);
  }
  if (const auto it = shared_.find(key); it != shared_.end()) return it->second;
  balancer::SharedText text(render(values));
  // Short values only (a locale, not a user's question): the cache is for the few
  // renderings thousands of calls share, never a store of user input.
  if (shared_.size() < kSharedCacheSize && key.size() <= kSharedKeyMaxBytes) {
    shared_.emplace(std::move(key), text);
  }
  return text;
}

}  // namespace celeriac::worker::tasks
