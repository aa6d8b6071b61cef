#include "worker/celery/revoked_set.h"

#include <gtest/gtest.h>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// A steady time point `s` seconds after the clock's epoch (boot, on Linux).
RevokedSet::SteadyTime at(double s) {
  return RevokedSet::SteadyTime(std::chrono::duration_cast<RevokedSet::SteadyTime::duration>(
      std::chrono::duration<double>(s)));
}

RevokedSet::WallTime wallAt(double s) {
  return RevokedSet::WallTime(
      std::chrono::duration_cast<RevokedSet::WallTime::duration>(std::chrono::duration<double>(s)));
}

TEST(RevokedSetTest, DefaultsAreCeleryLimits) {
  EXPECT_EQ(RevokedSet::kDefaultMaxEntries, 50'000u);
  EXPECT_EQ(RevokedSet::kDefaultExpiry, seconds(10'800));
}

TEST(RevokedSetTest, ContainsUntilExpiry) {
  RevokedSet set(10, seconds(100));
  set.add("a", at(1000));
  EXPECT_TRUE(set.contains("a", at(1000)));
  EXPECT_TRUE(set.contains("a", at(1099.5)));
  EXPECT_FALSE(set.contains("a", at(1100)));  // LimitedSet keeps while ts + expires > now
  EXPECT_FALSE(set.contains("b", at(1000)));
}

TEST(RevokedSetTest, ReAddingRestartsTheExpiry) {
  RevokedSet set(10, seconds(100));
  set.add("a", at(1000));
  set.add("a", at(1050));
  EXPECT_TRUE(set.contains("a", at(1120)));
  EXPECT_EQ(set.size(), 1u);
}

TEST(RevokedSetTest, EvictsOldestBeyondMaxEntries) {
  RevokedSet set(3, seconds(100));
  set.add("a", at(1));
  set.add("b", at(2));
  set.add("c", at(3));
  set.add("a", at(4));  // refreshed: now the newest
  set.add("d", at(5));
  EXPECT_EQ(set.ids(), (std::vector<std::string>{"c", "a", "d"}));
  EXPECT_FALSE(set.contains("b", at(5)));
}

TEST(RevokedSetTest, PurgeDropsExpiredOnly) {
  RevokedSet set(10, seconds(100));
  set.add("a", at(0));
  set.add("b", at(50));
  set.purge(at(120));
  EXPECT_EQ(set.ids(), std::vector<std::string>{"b"});
}

TEST(RevokedSetTest, MergesPythonHelloForms) {
  RevokedSet set(10, seconds(100));
  // What a Python worker sends: LimitedSet._data, {id: [ts, id]}; also {id: ts}.
  const json revoked = json::parse(R"({"x": [1000.5, "x"], "y": 1001.25, "bad": "no"})");
  EXPECT_EQ(set.mergeHello(revoked, at(1010)), 2u);
  EXPECT_TRUE(set.contains("x", at(1010)));
  EXPECT_TRUE(set.contains("y", at(1010)));
  EXPECT_FALSE(set.contains("bad", at(1010)));
  EXPECT_FALSE(set.contains("x", at(1100.5)));  // the peer's stamp is kept
  EXPECT_EQ(set.mergeHello(json::array({"z"}), at(1010)), 1u);
  EXPECT_TRUE(set.contains("z", at(1109)));
  EXPECT_EQ(set.mergeHello(nullptr, at(1010)), 0u);
}

TEST(RevokedSetTest, MergeKeepsTheLaterStamp) {
  RevokedSet set(10, seconds(100));
  set.add("a", at(1000));
  set.mergeHello(json::parse(R"({"a": [10.0, "a"]})"), at(1000));
  EXPECT_TRUE(set.contains("a", at(1050)));
}

TEST(RevokedSetTest, HelloReplyIsPythonsForm) {
  RevokedSet set(10, seconds(100));
  set.add("old", at(0));
  set.add("a", at(1000));
  const json reply = set.helloReply(at(1010), 43);
  EXPECT_EQ(reply, json::parse(R"({"revoked": {"a": [1000.0, "a"]}, "clock": 43})"));
  // Python's LimitedSet.update refuses an integer stamp: it must be written as a float.
  EXPECT_TRUE(reply["revoked"]["a"][0].is_number_float());
  EXPECT_NE(reply.dump().find("1000.0"), std::string::npos);
}

TEST(RevokedSetTest, HelloRoundTripsBetweenTwoSets) {
  RevokedSet ours(10, seconds(100));
  ours.add("a", at(1000.125));
  RevokedSet peer(10, seconds(100));
  peer.mergeHello(ours.helloReply(at(1001), 1)["revoked"], at(1001));
  EXPECT_EQ(peer.ids(), std::vector<std::string>{"a"});
  EXPECT_EQ(peer.helloReply(at(1001), 2)["revoked"], ours.helloReply(at(1001), 3)["revoked"]);
}

TEST(RevokedSetTest, PersistsAcrossARebootInWallClockSeconds) {
  RevokedSet set(10, seconds(100));
  set.add("a", at(5000));
  set.add("b", at(5050));
  // Saved at monotonic 5060 = wall 1'800'000'060.
  const json saved = set.toJson(at(5060), wallAt(1'800'000'060));
  EXPECT_EQ(saved["version"], 1);
  EXPECT_NEAR(saved["revoked"][0][1].get<double>(), 1'800'000'000.0, 1e-3);
  // After a reboot: monotonic 30, wall 1'800'000'100 (40 s later): "a" (saved 60 s old)
  // has expired, "b" has 100 - 10 - 40 = 50 s left.
  auto restored = RevokedSet::fromJson(saved, at(30), wallAt(1'800'000'100), 10, seconds(100));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->ids(), std::vector<std::string>{"b"});
  EXPECT_TRUE(restored->contains("b", at(79)));
  EXPECT_FALSE(restored->contains("b", at(81)));
}

TEST(RevokedSetTest, ToJsonFromJsonRoundTripsAtTheSameMoment) {
  RevokedSet set;
  for (int i = 0; i < 5; ++i) set.add("id" + std::to_string(i), at(100 + i));
  const json saved = set.toJson(at(200), wallAt(1'700'000'000));
  auto restored = RevokedSet::fromJson(saved, at(200), wallAt(1'700'000'000));
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->ids(), set.ids());
  EXPECT_EQ(restored->toJson(at(200), wallAt(1'700'000'000)), saved);
}

TEST(RevokedSetTest, FromJsonRejectsOtherDocuments) {
  for (const char* bad :
       {R"([])", R"({"version": 2, "revoked": []})", R"({"version": 1})",
        R"({"version": 1, "revoked": [["a"]]})", R"({"version": 1, "revoked": [[1, 2.0]]})"}) {
    auto restored = RevokedSet::fromJson(json::parse(bad), at(0), wallAt(0));
    ASSERT_FALSE(restored.ok()) << bad;
    EXPECT_FALSE(restored.error().message.empty()) << bad;
  }
}

}  // namespace
}  // namespace celeriac::worker::celery
