// SchemaValidator over the shipped schemas: every fixture, the error texts, references
// across files, and strings long enough to break a naive std::regex pattern.
#include "worker/tasks/schema_validator.h"

#include <gtest/gtest.h>

#include <fstream>

#include "llm_task_harness.h"

namespace celeriac::worker::tasks {
namespace {

using nlohmann::json;
using task_tests::schemaDir;
using task_tests::sourceDir;

json readJson(const std::filesystem::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::filesystem::path fixtureDir() { return schemaDir() / "fixtures" / "tasks"; }

TEST(SchemaFixturesTest, EveryValidFixtureValidatesAndEveryInvalidOneNamesItsField) {
  int valid = 0, invalid = 0;
  for (const auto& dir : std::filesystem::directory_iterator(fixtureDir())) {
    if (!dir.is_directory()) continue;
    const auto name = dir.path().filename().string();
    SCOPED_TRACE(name);
    const auto schema = SchemaValidator::load(schemaDir(), name + ".schema.json").value();
    for (const auto& f : std::filesystem::directory_iterator(dir.path() / "valid")) {
      const auto errors = schema.validate(readJson(f.path()));
      EXPECT_TRUE(errors.empty()) << f.path().filename() << ": " << joinErrors(errors);
      ++valid;
    }
    const json expected = readJson(dir.path() / "expected_errors.json");
    for (const auto& f : std::filesystem::directory_iterator(dir.path() / "invalid")) {
      const auto file = f.path().filename().string();
      const auto errors = schema.validate(readJson(f.path()));
      ASSERT_FALSE(errors.empty()) << file << " should be invalid";
      ASSERT_TRUE(expected.contains(file)) << file << " has no entry in expected_errors.json";
      EXPECT_EQ(errors.front().path, expected[file].get<std::string>())
          << file << ": " << joinErrors(errors);
      ++invalid;
    }
  }
  EXPECT_GE(valid, 10);
  EXPECT_GE(invalid, 30);
}

TEST(SchemaValidatorTest, ErrorNamesTheFieldAndTheRule) {
  const auto schema = SchemaValidator::load(schemaDir(), "analyze_input.schema.json").value();
  const auto errors = schema.validate(json{{"image", "http://x.example/a.jpg"}, {"user_id", "u"}});
  ASSERT_EQ(errors.size(), 1u) << joinErrors(errors);
  EXPECT_EQ(errors[0].toString(),
            "image: must be an https:// URL (at most 4096 characters, no spaces) or a "
            "data:image/(png|jpeg|webp|gif);base64,... URL");
}

TEST(SchemaValidatorTest, MissingAndUnknownFieldsAreNamed) {
  const auto schema = SchemaValidator::load(schemaDir(), "analyze_input.schema.json").value();
  const auto errors = schema.validate(json{{"imgae", "https://x.example/a.jpg"}});
  std::vector<std::string> texts;
  for (const auto& e : errors) texts.push_back(e.toString());
  {
    EXPECT_NE(std::find(texts.begin(), texts.end(), "image: is required"), texts.end());
    EXPECT_NE(std::find(texts.begin(), texts.end(), "user_id: is required"), texts.end());
    EXPECT_NE(std::find(texts.begin(), texts.end(), "imgae: is not an allowed field"), texts.end());
  }
}

TEST(SchemaValidatorTest, TypeErrorsWithoutCustomMessageSayTheExpectedType) {
  const auto schema =
      SchemaValidator::load(schemaDir(), "analysis_result.schema.json#/definitions/analysis")
          .value();
  auto doc = task_tests::validAnalysis();
  doc["items"][0]["needs_cleaning"] = "yes";
  const auto errors = schema.validate(doc);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].toString(), "items[0].needs_cleaning: must be true or false");
}

// Worded as the balancer config's are (common/schema_messages.h): valijson said "array
// should contain no more than 50 elements" and "has the wrong type" where the rule sits
// behind additionalProperties.
TEST(SchemaValidatorTest, RulesWithoutCustomMessageAreWordedFromTheSchemasKeywords) {
  const auto input = SchemaValidator::load(schemaDir(), "generate_input.schema.json").value();
  json doc = {{"analysis", task_tests::validAnalysis()}, {"rules", json::object()}};
  const json item = doc["analysis"]["items"][0];
  doc["analysis"]["items"] = json::array();
  for (int i = 0; i < 51; ++i) doc["analysis"]["items"].push_back(item);
  auto errors = input.validate(doc);
  ASSERT_EQ(errors.size(), 1u) << joinErrors(errors);
  EXPECT_EQ(errors[0].toString(), "analysis.items: must have at most 50 items");

  const auto config = SchemaValidator::load(schemaDir(), "llm_tasks_config.schema.json").value();
  errors =
      config.validate(json::parse(R"({"task_options": {"celeriac.echo": {"priority": 300}}})"));
  ASSERT_EQ(errors.size(), 1u) << joinErrors(errors);
  EXPECT_EQ(errors[0].toString(), "task_options.celeriac.echo.priority: must be at most 255");
}

TEST(SchemaValidatorTest, SubSchemaReferenceValidatesTheModelPartWithoutMeta) {
  const auto part =
      SchemaValidator::load(schemaDir(), "analysis_result.schema.json#/definitions/analysis")
          .value();
  const auto whole = SchemaValidator::load(schemaDir(), "analysis_result.schema.json").value();
  EXPECT_TRUE(part.validate(task_tests::validAnalysis()).empty());
  const auto errors = whole.validate(task_tests::validAnalysis());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].toString(), "meta: is required");
}

TEST(SchemaValidatorTest, LongStringsFailCleanlyInsteadOfOverflowingTheRegexStack) {
  const auto schema = SchemaValidator::load(schemaDir(), "analyze_input.schema.json").value();
  // A 10 MB data URL is valid (the body is checked by the task, not the pattern) ...
  const std::string big_data = "data:image/jpeg;base64," + std::string(10'000'000, 'A');
  EXPECT_TRUE(schema.validate(json{{"image", big_data}, {"user_id", "u"}}).empty());
  // ... a 200 KB https URL is refused without running an unbounded pattern over it.
  const std::string long_url = "https://x.example/" + std::string(200'000, 'a');
  const auto errors = schema.validate(json{{"image", long_url}, {"user_id", "u"}});
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].path, "image");
  // ... and a data URL beyond the size cap is refused by maxLength.
  const std::string huge = "data:image/png;base64," + std::string(14'000'001, 'A');
  EXPECT_FALSE(schema.validate(json{{"image", huge}, {"user_id", "u"}}).empty());
}

TEST(SchemaValidatorTest, MissingFileIsALoadErrorNamingIt) {
  const auto refused = SchemaValidator::load(schemaDir(), "no_such.schema.json");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("no_such.schema.json"), std::string::npos)
      << refused.error().message;
}

TEST(SchemaValidatorTest, JoinErrorsCapsTheList) {
  std::vector<SchemaError> errors(7, SchemaError{"a", "is required"});
  EXPECT_EQ(joinErrors(errors, 2), "a: is required; a: is required; ... and 5 more");
}

}  // namespace
}  // namespace celeriac::worker::tasks
