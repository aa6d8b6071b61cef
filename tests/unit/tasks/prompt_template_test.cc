// PromptTemplate: {{placeholder}} substitution and the checks made when loading a file.
#include "worker/tasks/prompt_template.h"

#include <gtest/gtest.h>

#include <fstream>

#include "llm_task_harness.h"

namespace celeriac::worker::tasks {
namespace {

TEST(PromptTemplateTest, ReplacesPlaceholdersAndLeavesOtherBracesAlone) {
  const PromptTemplate t("Locale {{locale}}; {{missing}}|{ not }|{{Not A Name}}|{{hint}}");
  EXPECT_EQ(t.render({{"locale", "ko"}, {"hint", "x"}}), "Locale ko; |{ not }|{{Not A Name}}|x");
  EXPECT_EQ(t.placeholders(), (std::set<std::string, std::less<>>{"hint", "locale", "missing"}));
}

TEST(PromptTemplateTest, SubstitutedValuesAreNeverExpandedAgain) {
  const PromptTemplate t("hint: {{hint}} / {{locale}}");
  EXPECT_EQ(t.render({{"hint", "{{locale}}"}, {"locale", "ko"}}), "hint: {{locale}} / ko");
}

TEST(PromptTemplateTest, RenderSharedGivesCallsWithTheSameValuesOneCopy) {
  const PromptTemplate t("Answer in {{locale}}{{hint}}.");
  const balancer::SharedText a = t.renderShared({{"locale", "ko"}, {"other", "ignored"}});
  const balancer::SharedText b = t.renderShared({{"locale", "ko"}, {"other", "different"}});
  EXPECT_EQ(a.str(), "Answer in ko.");
  EXPECT_EQ(&a.str(), &b.str());  // one string, shared
  // Values that join to the same text are still different values.
  EXPECT_EQ(t.renderShared({{"locale", "k"}, {"hint", "o"}}).str(), "Answer in ko.");
  EXPECT_NE(&t.renderShared({{"locale", "k"}, {"hint", "o"}}).str(), &a.str());
  EXPECT_EQ(t.renderShared({{"locale", "en"}}).str(), "Answer in en.");
}

TEST(PromptTemplateTest, RenderSharedPastItsCacheStillRendersEachCall) {
  const PromptTemplate t("{{hint}}");
  for (std::size_t i = 0; i < PromptTemplate::kSharedCacheSize + 10; ++i) {
    EXPECT_EQ(t.renderShared({{"hint", std::to_string(i)}}).str(), std::to_string(i));
  }
  // Still right, and still shared, for values cached before it filled up.
  EXPECT_EQ(&t.renderShared({{"hint", "0"}}).str(), &t.renderShared({{"hint", "0"}}).str());
}

TEST(PromptTemplateTest, RenderSharedKeepsNoLongValues) {
  const PromptTemplate t("{{question}}");
  const std::string long_value(PromptTemplate::kSharedKeyMaxBytes + 1, 'q');
  const balancer::SharedText a = t.renderShared({{"question", long_value}});
  const balancer::SharedText b = t.renderShared({{"question", long_value}});
  EXPECT_EQ(a.str(), long_value);
  EXPECT_NE(&a.str(), &b.str());  // rendered for each call, never kept
}

TEST(PromptTemplateTest, FileWithUnknownPlaceholderIsRefusedNamingIt) {
  const auto path = std::filesystem::temp_directory_path() / "celeriac_prompt_test.txt";
  std::ofstream(path) << "Hello {{loclae}}\n";
  const auto refused = PromptTemplate::fromFile(path, {"locale"});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("{{loclae}}"), std::string::npos)
      << refused.error().message;
  std::filesystem::remove(path);
}

TEST(PromptTemplateTest, MissingOrEmptyFileIsRefused) {
  EXPECT_EQ(PromptTemplate::fromFile("/nonexistent/prompt.txt", {}).error().message,
            "cannot read prompt file /nonexistent/prompt.txt");
  const auto path = std::filesystem::temp_directory_path() / "celeriac_prompt_empty.txt";
  std::ofstream(path) << "  \n";
  EXPECT_EQ(PromptTemplate::fromFile(path, {}).error().message,
            "prompt file " + path.string() + " is empty");
  std::filesystem::remove(path);
}

TEST(PromptTemplateTest, ShippedPromptsAskForJson) {
  // OpenAI's JSON mode refuses a request whose messages never mention JSON.
  for (const char* name : {"analyze_system.txt", "analyze_user.txt", "generate_system.txt",
                           "generate_user.txt", "repair.txt"}) {
    const auto t =
        PromptTemplate::fromFile(task_tests::sourceDir() / "worker" / "tasks" / "prompts" / name,
                                 {"locale", "hint", "analysis", "rules", "question", "errors"})
            .value();
    EXPECT_NE(t.text().find("JSON"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace celeriac::worker::tasks
