#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace celeriac::common {
namespace {

Result<int> parsePort(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    return Error{"not a number: '" + text + "'"};
  }
  const int port = std::stoi(text);
  if (port < 1 || port > 65535) return Error{"out of range 1..65535: " + text};
  return port;
}

Result<void> check(bool good) {
  if (!good) return Error{"bad"};
  return {};
}

Result<std::string> greet(bool good) {
  if (!good) return Error{"no"};
  return "hello";  // a const char* makes the std::string
}

TEST(ResultTest, HoldsTheValueOnSuccess) {
  const Result<int> r = parsePort("5672");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 5672);
  EXPECT_EQ(*r, 5672);
  EXPECT_EQ(r.valueOr(1), 5672);
}

TEST(ResultTest, HoldsTheErrorOnFailure) {
  const Result<int> r = parsePort("amqp");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().message, "not a number: 'amqp'");
  EXPECT_EQ(r.valueOr(1), 1);
}

TEST(ResultTest, ValueOnAnErrorThrowsWithTheMessage) {
  const Result<int> r = parsePort("0");
  try {
    (void)r.value();
    FAIL() << "value() on an error returned";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range 1..65535: 0"), std::string::npos);
  }
}

TEST(ResultTest, ErrorOnASuccessThrows) {
  EXPECT_THROW((void)parsePort("80").error(), std::logic_error);
  EXPECT_THROW((void)check(true).error(), std::logic_error);
}

TEST(ResultTest, VoidIsSuccessOrAnError) {
  EXPECT_TRUE(check(true).ok());
  const Result<void> bad = check(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "bad");
}

TEST(ResultTest, AStringResultIsMadeFromText) {
  EXPECT_EQ(greet(true).value(), "hello");
  EXPECT_EQ(greet(false).error().message, "no");
}

TEST(ResultTest, MoveOnlyValuesMoveOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.value(), 3);
  std::unique_ptr<int> taken = std::move(r).value();
  EXPECT_EQ(*taken, 3);
}

TEST(ResultTest, ArrowReachesTheValue) {
  Result<std::vector<int>> r = std::vector<int>{1, 2, 3};
  EXPECT_EQ(r->size(), 3U);
}

TEST(ResultTest, ErrorInNamesTheThingItIsAbout) {
  EXPECT_EQ(Error{"not a number"}.in("--port").message, "--port: not a number");
}

}  // namespace
}  // namespace celeriac::common
