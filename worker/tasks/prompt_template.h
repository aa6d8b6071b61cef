#pragma once
// PromptTemplate: a prompt text loaded from a file, with {{placeholder}} substitution.
//
// What for: the LLM tasks' system, user and repair prompts live in files the tasks
// config points to (defaults in worker/tasks/prompts/), so wording changes need no
// rebuild. Placeholders are {{name}} with name in [a-z0-9_]; there is no escaping, no
// logic and no recursion: a substituted value is never scanned again, so user text that
// contains "{{...}}" stays as it is.
// What not: no file watching; load once at start-up.
// Ownership: a plain value. render() is thread-agnostic; renderShared() keeps a cache and
// is for one thread (the loop's).

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "balancer/chat_request.h"
#include "common/result.h"

namespace celeriac::worker::tasks {

class PromptTemplate {
 public:
  PromptTemplate() = default;
  explicit PromptTemplate(std::string text);

  // Reads the file; an Error if it cannot be read, is empty, or uses a placeholder
  // outside `allowed` (a typo would otherwise reach the model verbatim).
  [[nodiscard]] static common::Result<PromptTemplate> fromFile(
      const std::filesystem::path& file, const std::set<std::string, std::less<>>& allowed);

  // The text with each {{name}} replaced by values[name]; a name without a value is
  // replaced by the empty string.
  [[nodiscard]] std::string render(
      const std::map<std::string, std::string, std::less<>>& values) const;

  // render() as text shared by every call rendered from the same values: for prompts
  // that take few distinct values (the system prompts take only {{locale}}), so
  // thousands of waiting calls hold one copy. At most kSharedCacheSize renderings are
  // kept, each for values of at most kSharedKeyMaxBytes in all; past either, each call
  // gets its own.
  [[nodiscard]] balancer::SharedText renderShared(
      const std::map<std::string, std::string, std::less<>>& values) const;
  static constexpr std::size_t kSharedCacheSize = 64;
  static constexpr std::size_t kSharedKeyMaxBytes = 256;

  [[nodiscard]] const std::string& text() const { return text_; }
  [[nodiscard]] const std::set<std::string, std::less<>>& placeholders() const {
    return placeholders_;
  }

 private:
  std::string text_;
  std::set<std::string, std::less<>> placeholders_;
  // The placeholders' values (joined) -> the rendering; see renderShared.
  mutable std::map<std::string, balancer::SharedText, std::less<>> shared_;
};

}  // namespace celeriac::worker::tasks
