#include "worker/celery/python_json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

TEST(PythonJsonTest, StrictJsonTakesTheFastPath) {
  const auto result = parsePythonJson(R"([1, "a", {"b": null}])");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, json::parse(R"([1, "a", {"b": null}])"));
}

TEST(PythonJsonTest, ReadsTopLevelNonFiniteTokens) {
  ASSERT_TRUE(parsePythonJson("NaN").ok());
  EXPECT_TRUE(std::isnan(parsePythonJson("NaN")->get<double>()));
  EXPECT_EQ(parsePythonJson(" -Infinity ")->get<double>(),
            -std::numeric_limits<double>::infinity());
}

TEST(PythonJsonTest, TokensInsideStringsAndEscapesAreLeftAlone) {
  const auto result = parsePythonJson(R"(["say \"NaN\"", NaN, "Infinity\\"])");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ((*result)[0], "say \"NaN\"");
  EXPECT_TRUE(std::isnan((*result)[1].get<double>()));
  EXPECT_EQ((*result)[2], "Infinity\\");
}

TEST(PythonJsonTest, InputThatLooksLikeOurMarkerDoesNotCollide) {
  const auto result = parsePythonJson(R"(["\u0000celeriac-nonfinite-0-nan", NaN])");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ((*result)[0], std::string("\0celeriac-nonfinite-0-nan", 25));
  EXPECT_TRUE(std::isnan((*result)[1].get<double>()));
}

TEST(PythonJsonTest, ReportsTheParserErrorForBrokenText) {
  for (const char* bad : {"", "[1,", "nan", "[Nan]", "[NaN1]", "[-NaN]", "{NaN: 1}", "[1] x"}) {
    const auto result = parsePythonJson(bad);
    EXPECT_FALSE(result.ok()) << bad;
    EXPECT_NE(result.error().message.find("parse error"), std::string::npos)
        << bad << ": " << result.error().message;
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
  const auto result = parsePythonJson("[" + digits + ", -" + digits + "]");
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_TRUE(isBigInteger((*result)[0]));
  EXPECT_EQ(bigIntegerDigits((*result)[0]), digits);
  EXPECT_EQ(bigIntegerDigits((*result)[1]), "-" + digits);
  EXPECT_EQ(dumpPythonJson(*result), "[" + digits + ",-" + digits + "]");
}

TEST(PythonJsonTest, AnIntegerPastSixtyFourBitsIsNotRoundedToADouble) {
  // 2**70: nlohmann alone reads 1.1805916207174113e+21; Python keeps the int.
  const auto result = parsePythonJson(R"({"n": 1180591620717411303424})");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(isBigInteger(result->at("n")));
  EXPECT_EQ(dumpPythonJson(*result), R"({"n":1180591620717411303424})");
  // The largest 64-bit values stay ordinary numbers.
  EXPECT_TRUE(parsePythonJson("18446744073709551615")->is_number_unsigned());
  EXPECT_TRUE(parsePythonJson("-9223372036854775808")->is_number_integer());
}

TEST(PythonJsonTest, AFloatLiteralThatOverflowsReadsAsInfinityAsInPython) {
  const auto result = parsePythonJson("[1e999, -1.5e400, 2.5]");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ((*result)[0].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ((*result)[1].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(dumpPythonJson(*result), "[Infinity,-Infinity,2.5]");
}

TEST(PythonJsonTest, DumpWritesNonFiniteAsPythonDoesNotAsNull) {
  const auto result = parsePythonJson(R"({"a": NaN, "b": [Infinity, null]})");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(dumpPythonJson(*result), R"({"a":NaN,"b":[Infinity,null]})");
}

TEST(PythonJsonTest, DumpLeavesStringsThatLookLikeItsMarkersAlone) {
  json value = json::array(
      {std::string("\0celeriac-dump-0-0", 18), std::numeric_limits<double>::infinity()});
  EXPECT_EQ(dumpPythonJson(value), R"(["\u0000celeriac-dump-0-0",Infinity])");
}

TEST(PythonJsonTest, NumbersInsideStringsAreLeftAlone) {
  const auto result = parsePythonJson(R"(["1e999", 1e999])");
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ((*result)[0], "1e999");
}

TEST(PythonJsonTest, NestingDeeperThanTheLimitIsAnErrorNotAStackOverflow) {
  const std::size_t depth = 100'000;
  const auto result = parsePythonJson(std::string(depth, '[') + std::string(depth, ']'));
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("nested deeper"), std::string::npos)
      << result.error().message;
  const std::size_t ok_depth = kMaxJsonDepth;
  EXPECT_TRUE(parsePythonJson(std::string(ok_depth, '[') + std::string(ok_depth, ']')).ok());
}

TEST(PythonJsonTest, InvalidUtf8IsAnErrorNotAnException) {
  const auto result = parsePythonJson("[\"\xff\xfe\"]");
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.error().message.empty());
}

}  // namespace
}  // namespace celeriac::worker::celery
