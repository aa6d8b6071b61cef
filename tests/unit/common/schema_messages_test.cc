// The words for JSON Schema violations: from the schema's keywords, from its
// errorMessage (one string, or one per keyword), at the failing field's own path, across
// "$ref"s into other documents, with valijson's wrappers dropped.

// valijson's <regex> use and json_pointer code trip GCC 12's false warnings (see
// worker/tasks/schema_validator.cc); silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "common/schema_messages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace celeriac::common {
namespace {

using nlohmann::json;

// Validates `instance` against `schema` (whose "$ref"s may name the documents in
// `others` by absolute URI) and words what failed as "path: message".
std::vector<std::string> wordsFor(const json& schema, const json& instance,
                                  const SchemaWording& wording = {},
                                  const std::map<std::string, json>& others = {}) {
  valijson::Schema compiled;
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema);
  parser.populateSchema(
      schema_adapter, compiled,
      [&others](const std::string& uri) -> const json* {
        const auto it = others.find(uri);
        return it == others.end() ? nullptr : &it->second;
      },
      [](const json*) {});
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter instance_adapter(instance);
  if (validator.validate(compiled, instance_adapter, &results)) return {};
  std::vector<std::string> out;
  for (const auto& v : describeViolations(results, instance, schema, wording)) {
    out.push_back(v.path.empty() ? v.message : v.path + ": " + v.message);
  }
  return out;
}

using Words = std::vector<std::string>;

const json kRules = json::parse(R"({
  "type": "object",
  "properties": {
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    "rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^a"},
    "tag": {"type": "string", "minLength": 1},
    "mode": {"enum": ["fast", "slow", "off"]},
    "pair": {"enum": ["on", "off"]},
    "list": {"type": "array", "minItems": 2, "maxItems": 3},
    "either": {"type": ["string", "integer"]},
    "flag": {"type": "boolean"},
    "map": {"type": "object"}
  }
})");

TEST(SchemaMessagesTest, RulesAreWordedFromTheSchemasKeywords) {
  EXPECT_EQ(wordsFor(kRules, {{"count", 0}}), Words{"count: must be at least 1"});
  EXPECT_EQ(wordsFor(kRules, {{"count", 11}}), Words{"count: must be at most 10"});
  EXPECT_EQ(wordsFor(kRules, {{"count", "3"}}), Words{"count: must be an integer"});
  EXPECT_EQ(wordsFor(kRules, {{"rate", 0}}), Words{"rate: must be a positive number"});
  EXPECT_EQ(wordsFor(kRules, {{"rate", 1}}), Words{"rate: must be less than 1"});
  EXPECT_EQ(wordsFor(kRules, {{"name", "a"}}), Words{"name: must have at least 2 characters"});
  EXPECT_EQ(wordsFor(kRules, {{"name", "abcdef"}}), Words{"name: must have at most 5 characters"});
  EXPECT_EQ(wordsFor(kRules, {{"name", "bb"}}), Words{"name: must match ^a"});
  EXPECT_EQ(wordsFor(kRules, {{"tag", ""}}), Words{"tag: must not be empty"});
  EXPECT_EQ(wordsFor(kRules, {{"mode", "warp"}}), Words{"mode: must be one of fast, slow, off"});
  EXPECT_EQ(wordsFor(kRules, {{"pair", "dim"}}), Words{"pair: must be on or off"});
  EXPECT_EQ(wordsFor(kRules, {{"list", json::array({1})}}),
            Words{"list: must have at least 2 items"});
  EXPECT_EQ(wordsFor(kRules, {{"list", {1, 2, 3, 4}}}), Words{"list: must have at most 3 items"});
  EXPECT_EQ(wordsFor(kRules, {{"either", 0.5}}), Words{"either: must be a string or an integer"});
  EXPECT_EQ(wordsFor(kRules, {{"flag", "yes"}}), Words{"flag: must be true or false"});
  EXPECT_EQ(wordsFor(kRules, {{"map", json::array({1})}}), Words{"map: must be a mapping"});
  EXPECT_EQ(wordsFor(kRules, json::array()), Words{"must be a mapping"});
}

TEST(SchemaMessagesTest, ErrorMessageIsOneTextForEveryRuleOrOnePerKeyword) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "all": {"type": "integer", "minimum": 1, "const": 3, "errorMessage": "must be 3"},
      "some": {"type": "number", "maximum": 9, "errorMessage": {"maximum": "at most nine"}}
    }
  })");
  EXPECT_EQ(wordsFor(schema, {{"all", "x"}}), Words{"all: must be 3"});
  EXPECT_EQ(wordsFor(schema, {{"all", 0}}), Words{"all: must be 3"});  // minimum and const
  EXPECT_EQ(wordsFor(schema, {{"all", 2}}), Words{"all: must be 3"});  // const: unworded here
  EXPECT_EQ(wordsFor(schema, {{"some", 10}}), Words{"some: at most nine"});
  EXPECT_EQ(wordsFor(schema, {{"some", "x"}}), Words{"some: must be a number"});
}

TEST(SchemaMessagesTest, RulesNotWordedHereKeepValijsonsTextAsAClause) {
  const json schema = json::parse(R"({"properties": {"three": {"const": 3}}})");
  EXPECT_EQ(wordsFor(schema, {{"three", 4}}),
            Words{"three: failed to match expected value set by 'const' constraint"});
}

TEST(SchemaMessagesTest, MissingAndUnknownFieldsAreReportedAtTheFieldsOwnPath) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {"inner": {"type": "object", "required": ["url"],
                             "properties": {"url": {"type": "string"}},
                             "additionalProperties": false}},
    "additionalProperties": false
  })");
  const json instance = json::parse(R"({"inner": {"wieght": 1}, "extra": true})");
  const Words words = wordsFor(schema, instance);
  EXPECT_EQ(words.size(), 3u) << ::testing::PrintToString(words);
  for (const char* expected :
       {"inner.url: is required", "inner.wieght: unknown field", "extra: unknown field"}) {
    EXPECT_NE(std::find(words.begin(), words.end(), expected), words.end())
        << expected << " in " << ::testing::PrintToString(words);
  }
  SchemaWording wording;
  wording.unknown_field = "is not allowed";
  EXPECT_EQ(wordsFor(schema, {{"extra", 1}}, wording), Words{"extra: is not allowed"});
}

TEST(SchemaMessagesTest, PathsNameListIndexesAndKeysThatLookLikeNumbers) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "items": {"type": "array", "items": {"type": "object",
                                           "properties": {"n": {"type": "integer"}}}},
      "limits": {"type": "object", "additionalProperties": {"type": "object",
          "properties": {"rpm": {"type": "integer", "minimum": 1}}}}
    }
  })");
  // valijson wraps each leaf in "Failed to validate item #1" and the like: dropped.
  EXPECT_EQ(wordsFor(schema, json::parse(R"({"items": [{"n": 1}, {"n": "x"}]})")),
            Words{"items[1].n: must be an integer"});
  // "0" is a key of a mapping here (additionalProperties' rules still apply), not an index.
  EXPECT_EQ(wordsFor(schema, json::parse(R"({"limits": {"0": {"rpm": 0}}})")),
            Words{"limits.0.rpm: must be at least 1"});
}

TEST(SchemaMessagesTest, RulesAreFoundThroughRefsAllOfAndConditionals) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "a": {"$ref": "#/definitions/small"},
      "b": {"allOf": [{"$ref": "#/definitions/small"}, {"type": "integer"}]},
      "c": {"type": "string", "if": {"maxLength": 3}, "then": {"pattern": "^x"},
            "else": {"pattern": "^y"}}
    },
    "definitions": {"small": {"maximum": 5, "errorMessage": {"maximum": "is too big"}}}
  })");
  EXPECT_EQ(wordsFor(schema, {{"a", 6}}), Words{"a: is too big"});
  EXPECT_EQ(wordsFor(schema, {{"b", 6}}), Words{"b: is too big"});
  EXPECT_EQ(wordsFor(schema, {{"c", "ab"}}), Words{"c: must match ^x"});
}

TEST(SchemaMessagesTest, RefsIntoOtherDocumentsAreFollowedThroughTheLookup) {
  const std::map<std::string, json> others = {{"file:///schemas/other.json", json::parse(R"({
         "definitions": {
           "item": {"type": "object", "properties": {"kind": {"$ref": "#/definitions/kind"}}},
           "kind": {"enum": ["a", "b"], "errorMessage": "must be a kind: a or b"}
         }})")}};
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {"items": {"type": "array",
                             "items": {"$ref": "file:///schemas/other.json#/definitions/item"}}}
  })");
  const json instance = json::parse(R"({"items": [{"kind": "c"}]})");
  SchemaWording wording;
  wording.documents = [&others](const std::string& uri) -> const json* {
    const auto it = others.find(uri);
    return it == others.end() ? nullptr : &it->second;
  };
  EXPECT_EQ(wordsFor(schema, instance, wording, others),
            Words{"items[0].kind: must be a kind: a or b"});
  // Without the document, the rule cannot be worded from it: valijson's text.
  EXPECT_EQ(wordsFor(schema, instance, {}, others),
            Words{"items[0].kind: failed to match against any enum values"});
}

TEST(SchemaMessagesTest, ARepeatedViolationIsGivenOnce) {
  // Both branches of the allOf refuse the same value with the same words.
  const json schema = json::parse(R"({
    "properties": {"n": {"allOf": [{"type": "integer"}, {"type": "integer"}]}}
  })");
  EXPECT_EQ(wordsFor(schema, {{"n", "x"}}), Words{"n: must be an integer"});
}

}  // namespace
}  // namespace celeriac::common
