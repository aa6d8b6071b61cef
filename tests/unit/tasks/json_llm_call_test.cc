// JsonLlmCall::parseContent: what of a model's answer counts as JSON (whitespace and one
// ```json fence are tolerated) and the words of the error fed back to the model when it
// is not. The call itself (submit, repair, done) is covered through the analyze and
// generate task tests.
#include "worker/tasks/json_llm_call.h"

#include <gtest/gtest.h>

namespace celeriac::worker::tasks {
namespace {

TEST(JsonLlmCallTest, ParsesAnObjectInsideWhitespaceOrOneFence) {
  auto plain = JsonLlmCall::parseContent("  {\"a\": 1}\n");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ((*plain)["a"], 1);
  auto fenced = JsonLlmCall::parseContent("```json\n{\"a\": [1, 2]}\n```");
  ASSERT_TRUE(fenced) << fenced.error().message;
  EXPECT_EQ((*fenced)["a"].size(), 2u);
}

TEST(JsonLlmCallTest, ErrorsSayWhyTheAnswerIsNotJson) {
  auto empty = JsonLlmCall::parseContent(" \n ");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "not valid JSON: the answer is empty");
  auto fence_only = JsonLlmCall::parseContent("```json\n```");
  ASSERT_FALSE(fence_only);
  EXPECT_EQ(fence_only.error().message, "not valid JSON: the answer is empty");
  auto broken = JsonLlmCall::parseContent("still [not json");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message.rfind("not valid JSON: parse error at line 1, column 1", 0), 0u)
      << broken.error().message;
}

}  // namespace
}  // namespace celeriac::worker::tasks
