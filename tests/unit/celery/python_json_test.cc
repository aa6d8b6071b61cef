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

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

// send_task("celeriac.echo", args=[10**400]) used to abort the worker: nlohmann threw
// out_of_range ("number overflow parsing") out of the decoder.
TEST(PythonJsonTest, AnIntegerPastADoublesRangeKeepsItsDigits) {
  const std::string digits = "1" + std::string(400, '0');
  const PythonJsonResult result = parsePythonJson("[" + digits + ", -" + digits + "]");
  ASSERT_TRUE(result.value) << result.error;
  ASSERT_TRUE(isBigInteger((*result.value)[0]));
  EXPECT_EQ(bigIntegerDigits((*result.value)[0]), digits);
  EXPECT_EQ(bigIntegerDigits((*result.value)[1]), "-" + digits);
  EXPECT_EQ(dumpPythonJson(*result.value), "[" + digits + ",-" + digits + "]");
}

TEST(PythonJsonTest, AnIntegerPastSixtyFourBitsIsNotRoundedToADouble) {
  // 2**70: nlohmann alone reads 1.1805916207174113e+21; Python keeps the int.
  const PythonJsonResult result = parsePythonJson(R"({"n": 1180591620717411303424})");
  ASSERT_TRUE(result.value) << result.error;
  EXPECT_TRUE(isBigInteger(result.value->at("n")));
  EXPECT_EQ(dumpPythonJson(*result.value), R"({"n":1180591620717411303424})");
  // The largest 64-bit values stay ordinary numbers.
  EXPECT_TRUE(parsePythonJson("18446744073709551615").value->is_number_unsigned());
  EXPECT_TRUE(parsePythonJson("-9223372036854775808").value->is_number_integer());
}

TEST(PythonJsonTest, AFloatLiteralThatOverflowsReadsAsInfinityAsInPython) {
  const PythonJsonResult result = parsePythonJson("[1e999, -1.5e400, 2.5]");
  ASSERT_TRUE(result.value) << result.error;
  EXPECT_EQ((*result.value)[0].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ((*result.value)[1].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(dumpPythonJson(*result.value), "[Infinity,-Infinity,2.5]");
}

TEST(PythonJsonTest, DumpWritesNonFiniteAsPythonDoesNotAsNull) {
  const PythonJsonResult result = parsePythonJson(R"({"a": NaN, "b": [Infinity, null]})");
  ASSERT_TRUE(result.value) << result.error;
  EXPECT_EQ(dumpPythonJson(*result.value), R"({"a":NaN,"b":[Infinity,null]})");
}

TEST(PythonJsonTest, DumpLeavesStringsThatLookLikeItsMarkersAlone) {
  json value = json::array({std::string("\0celeriac-dump-0-0", 18),
                            std::numeric_limits<double>::infinity()});
  EXPECT_EQ(dumpPythonJson(value), R"(["\u0000celeriac-dump-0-0",Infinity])");
}

TEST(PythonJsonTest, NumbersInsideStringsAreLeftAlone) {
  const PythonJsonResult result = parsePythonJson(R"(["1e999", 1e999])");
  ASSERT_TRUE(result.value) << result.error;
  EXPECT_EQ((*result.value)[0], "1e999");
}

TEST(PythonJsonTest, NestingDeeperThanTheLimitIsAnErrorNotAStackOverflow) {
  const std::size_t depth = 100'000;
  const PythonJsonResult result = parsePythonJson(std::string(depth, '[') + std::string(depth, ']'));
  EXPECT_FALSE(result.value);
  EXPECT_NE(result.error.find("nested deeper"), std::string::npos) << result.error;
  const std::size_t ok_depth = kMaxJsonDepth;
  EXPECT_TRUE(parsePythonJson(std::string(ok_depth, '[') + std::string(ok_depth, ']')).value);
}

TEST(PythonJsonTest, InvalidUtf8IsAnErrorNotAnException) {
  const PythonJsonResult result = parsePythonJson("[\"\xff\xfe\"]");
  EXPECT_FALSE(result.value);
  EXPECT_FALSE(result.error.empty());
}

}  // namespace
}  // namespace celeriac::worker::celery
