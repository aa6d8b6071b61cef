#include "worker/celery/python_json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

TEST(PythonJsonTest, StrictJsonTakesTheFastPath) {
  const PythonJsonResult result = parsePythonJson(R"([1, "a", {"b": null}])");
  ASSERT_TRUE(result.value);
  EXPECT_EQ(*result.value, json::parse(R"([1, "a", {"b": null}])"));
  EXPECT_TRUE(result.error.empty());
}

TEST(PythonJsonTest, ReadsTopLevelNonFiniteTokens) {
  ASSERT_TRUE(parsePythonJson("NaN").value);
  EXPECT_TRUE(std::isnan(parsePythonJson("NaN").value->get<double>()));
  EXPECT_EQ(parsePythonJson(" -Infinity ").value->get<double>(),
            -std::numeric_limits<double>::infinity());
}

TEST(PythonJsonTest, TokensInsideStringsAndEscapesAreLeftAlone) {
  const PythonJsonResult result = parsePythonJson(R"(["say \"NaN\"", NaN, "Infinity\\"])");
  ASSERT_TRUE(result.value) << result.error;
  EXPECT_EQ((*result.value)[0], "say \"NaN\"");
  EXPECT_TRUE(std::isnan((*result.value)[1].get<double>()));
  EXPECT_EQ((*result.value)[2], "Infinity\\");
}

TEST(PythonJsonTest, InputThatLooksLikeOurMarkerDoesNotCollide) {
  const PythonJsonResult result = parsePythonJson(R"(["\u0000celeriac-nonfinite-0-nan", NaN])");
  ASSERT_TRUE(result.value) << result.error;
  EXPECT_EQ((*result.value)[0], std::string("\0celeriac-nonfinite-0-nan", 25));
  EXPECT_TRUE(std::isnan((*result.value)[1].get<double>()));
}

TEST(PythonJsonTest, ReportsTheParserErrorForBrokenText) {
  for (const char* bad : {"", "[1,", "nan", "[Nan]", "[NaN1]", "[-NaN]", "{NaN: 1}", "[1] x"}) {
    const PythonJsonResult result = parsePythonJson(bad);
    EXPECT_FALSE(result.value) << bad;
    EXPECT_NE(result.error.find("parse error"), std::string::npos) << bad << ": " << result.error;
  }
}

}  // namespace
}  // namespace celeriac::worker::celery
