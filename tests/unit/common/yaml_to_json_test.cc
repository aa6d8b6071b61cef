// A YAML config as JSON for its schema: YAML 1.2 core typing of scalars, and an Error
// naming the path (never a crash or a huge copy) for what JSON cannot carry.

#include "common/yaml_to_json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace celeriac::common {
namespace {

using nlohmann::json;

json fromText(const std::string& yaml) { return yamlToJson(YAML::Load(yaml)).value(); }

std::string errorOf(const std::string& yaml) {
  const auto converted = yamlToJson(YAML::Load(yaml));
  return converted ? "(no error)" : converted.error().message;
}

TEST(YamlToJsonTest, PlainScalarsAreTypedAsYamlOnePointTwoCoreSays) {
  const json j = fromText(
      "a: 60\nb: 0.5\nc: true\nd: False\ne: ~\nf:\ng: gpt-4.1\nh: 1e3\ni: yes\nj: -7\n"
      "k: +.inf\nl: 0x10\nm: 99999999999999999999\n");
  EXPECT_EQ(j["a"], 60);
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_EQ(j["b"], 0.5);
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], false);
  EXPECT_TRUE(j["e"].is_null());
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_EQ(j["g"], "gpt-4.1");
  EXPECT_EQ(j["h"], 1000.0);
  EXPECT_EQ(j["i"], "yes");  // YAML 1.1's boolean words are strings in 1.2
  EXPECT_EQ(j["j"], -7);
  EXPECT_TRUE(std::isinf(j["k"].get<double>()));
  EXPECT_EQ(j["l"], "0x10");
  EXPECT_TRUE(j["m"].is_number_float());  // beyond int64: a number, not an integer
}

TEST(YamlToJsonTest, QuotedScalarsStayStrings) {
  const json j = fromText("a: \"60\"\nb: 'true'\nc: !!str 5\nd: |\n  text\n");
  EXPECT_EQ(j["a"], "60");
  EXPECT_EQ(j["b"], "true");
  EXPECT_EQ(j["c"], "5");
  EXPECT_EQ(j["d"], "text\n");
}

TEST(YamlToJsonTest, ListsAndMappingsKeepTheirShape) {
  const json j = fromText("endpoints:\n  - {url: 'http://a', models: [m1, m2]}\n");
  EXPECT_EQ(j, json::parse(R"({"endpoints": [{"url": "http://a", "models": ["m1", "m2"]}]})"));
}

TEST(YamlToJsonTest, AKeyGivenTwiceIsAnError) {
  EXPECT_EQ(errorOf("pricing:\n  m: {input: 1}\n  m: {input: 2}\n"), "pricing.m: appears twice");
}

TEST(YamlToJsonTest, KeysThatAreNotScalarsAreAnError) {
  EXPECT_EQ(errorOf("{[a]: 1}\n"), "(document): keys must be plain strings, not lists or maps");
  EXPECT_EQ(errorOf("a: [{b: {{c: 1}: 2}}]\n"),
            "a[0].b: keys must be plain strings, not lists or maps");
}

// Found by tests/fuzz (config_loader_fuzz, crashers/config_loader/
// continuation_bytes_in_a_string): valijson read past a table counting the characters
// of a string with a run of UTF-8 continuation bytes.
TEST(YamlToJsonTest, StringsAndKeysMustBeUtf8) {
  EXPECT_EQ(errorOf("a: {b: \"x\x80\x80\x80\x80\x80\x80\x80\x80y\"}\n"), "a.b: is not valid UTF-8");
  EXPECT_EQ(errorOf("a: \xC3\n"), "a: is not valid UTF-8");          // truncated
  EXPECT_EQ(errorOf("a: \xC0\xAF\n"), "a: is not valid UTF-8");      // overlong '/'
  EXPECT_EQ(errorOf("a: \xED\xA0\x80\n"), "a: is not valid UTF-8");  // a surrogate
  EXPECT_EQ(errorOf("a: 1\n\xFFkey: 1\n"), "(document): has a key that is not valid UTF-8");
  EXPECT_EQ(fromText("a: \"\xC3\xA9t\xC3\xA9 \xF0\x9F\x8D\x83\"\n")["a"],
            "\xC3\xA9t\xC3\xA9 \xF0\x9F\x8D\x83");
}

TEST(YamlToJsonTest, AliasesCannotExpandWithoutBound) {
  // Each level repeats the one before ten times: 10^7 values once expanded.
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 7; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", " : "") + prev;
    yaml += "]\n";
  }
  const std::string error = errorOf(yaml);
  EXPECT_NE(error.find("the document is too large (over 100000 values)"), std::string::npos)
      << error;
}

}  // namespace
}  // namespace celeriac::common
