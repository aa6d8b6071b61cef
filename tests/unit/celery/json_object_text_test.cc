#include "worker/celery/json_object_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

std::string nlohmannDump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Keys written in alphabetical order give exactly nlohmann's text (it sorts keys).
TEST(JsonObjectTextTest, WritesWhatNlohmannDumpsForTheSameObject) {
  std::string ours;
  JsonObjectText object(ours);
  object.boolean("a", true)
      .boolean("b", false)
      .integer("c", -42)
      .unsignedInteger("d", 18446744073709551615ULL)
      .null("e")
      .number("f", 1795392027.907631)
      .string("g", "4410d731-67bd-4715-8338-196195ee0f9f")
      .value("h", json::array({1, "x", nullptr}));
  object.close();
  const json expected = {{"a", true},
                         {"b", false},
                         {"c", -42},
                         {"d", 18446744073709551615ULL},
                         {"e", nullptr},
                         {"f", 1795392027.907631},
                         {"g", "4410d731-67bd-4715-8338-196195ee0f9f"},
                         {"h", json::array({1, "x", nullptr})}};
  EXPECT_EQ(ours, nlohmannDump(expected));
}

TEST(JsonObjectTextTest, StringsNeedingEscapesMatchNlohmann) {
  const std::vector<std::string> texts = {"",
                                          "plain",
                                          "quote \" and backslash \\",
                                          "tab\tnew\nline\r",
                                          "\x01\x1f",
                                          "caf\xc3\xa9 \xe2\x82\xac",
                                          "\xf0\x9f\x98\x80",
                                          "bad \xff utf-8 \xc3",
                                          "del \x7f",
                                          "<script>'x'</script>"};
  for (const auto& text : texts) {
    std::string ours;
    appendJsonString(ours, text);
    EXPECT_EQ(ours, nlohmannDump(json(text))) << "text: " << text;
    // And it reads back as the same string (invalid UTF-8 replaced, not dropped).
    EXPECT_TRUE(json::accept(ours)) << ours;
  }
}

TEST(JsonObjectTextTest, DoublesMatchNlohmannAndStayFloats) {
  const std::vector<double> values = {0.0,         -0.0,  2.0,   1.5,     0.1,  1e20,  1e-5,
                                      123456789.0, 1e300, -3.25, 1.0 / 3, 1e21, 5e-324};
  for (const double value : values) {
    std::string ours;
    appendJsonDouble(ours, value);
    EXPECT_EQ(json::parse(ours), json(value)) << ours;
    EXPECT_TRUE(json::parse(ours).is_number_float()) << ours;
  }
  std::string whole;
  appendJsonDouble(whole, 2.0);
  EXPECT_EQ(whole, "2.0");
}

TEST(JsonObjectTextTest, NonFiniteDoublesAreNullAsNlohmannWritesThem) {
  for (const double value :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    std::string ours;
    appendJsonDouble(ours, value);
    EXPECT_EQ(ours, nlohmannDump(json(value)));
  }
}

TEST(JsonObjectTextTest, AnEmptyObjectIsBraces) {
  std::string ours;
  JsonObjectText(ours).close();
  EXPECT_EQ(ours, "{}");
}

}  // namespace
}  // namespace celeriac::worker::celery
