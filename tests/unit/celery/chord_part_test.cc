// Chord parts (a Redis chord member's entry in celery-taskset-meta-<gid>.j): the member
// text must be what Python writes (the MONITOR capture schemas/fixtures/celery/mon1.txt),
// and joining the parts follows RedisBackend._unpack_chord_result().

#include <gtest/gtest.h>

#include "worker/celery/chord_part.h"
#include "worker/celery/exception_info.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

TEST(ChordPartTest, EncodesASuccessExactlyAsPythonDoes) {
  // mon1.txt: ZADD ... "0" "[1, \"6460e484-...\", \"SUCCESS\", 2]"
  EXPECT_EQ(encodeChordPart("6460e484-cc70-4a4d-9f17-e53dd39b50b4", "SUCCESS", 2),
            "[1, \"6460e484-cc70-4a4d-9f17-e53dd39b50b4\", \"SUCCESS\", 2]");
  EXPECT_EQ(encodeChordPart("t", "SUCCESS", json{{"b", json::array({1, "x"})}, {"a", nullptr}}),
            "[1, \"t\", \"SUCCESS\", {\"a\": null, \"b\": [1, \"x\"]}]");
}

TEST(ChordPartTest, EncodesAFailureInCeleryKeyOrder) {
  const json exc = encodeException(makeException("ValueError", "bad", "celeriac.errors"));
  EXPECT_EQ(encodeChordPart("t", "FAILURE", exc),
            "[1, \"t\", \"FAILURE\", {\"exc_type\": \"ValueError\", \"exc_message\": [\"bad\"], "
            "\"exc_module\": \"builtins\"}]");
}

TEST(ChordPartTest, SavedGroupIsWhatGroupResultSaveWrites) {
  // As a Python worker's apply_chord() saved a chain ending in a group next to a task.
  const json members = json::parse(
      R"([[["g2", [["a", null], null]], [[["b", null], null], [["c", null], null]]], [["d", null], null]])");
  EXPECT_EQ(savedGroupDocument("g1", members),
            R"({"result": [["g1", null], [[["g2", [["a", null], null]], [[["b", null], null], )"
            R"([["c", null], null]]], [["d", null], null]]]})");
  EXPECT_EQ(savedGroupLeaves(savedGroupDocument("g1", members)),
            (std::vector<std::string>{"b", "c", "d"}));
}

TEST(ChordPartTest, ScoreIsTheGroupIndexOrPlusInfinity) {
  EXPECT_EQ(chordPartScore(0), "0");
  EXPECT_EQ(chordPartScore(7), "7");
  EXPECT_EQ(chordPartScore(std::nullopt), "+inf");
}

TEST(ChordPartTest, JoinKeepsTheMembersOrder) {
  const ChordJoin join = joinChordParts({encodeChordPart("a", "SUCCESS", 2),
                                         encodeChordPart("b", "SUCCESS", json::array({4})),
                                         encodeChordPart("c", "SUCCESS", "six")});
  ASSERT_TRUE(join.ok);
  EXPECT_EQ(join.results, json::array({2, json::array({4}), "six"}));
}

TEST(ChordPartTest, AFailedMemberFailsTheChordNamingIt) {
  const json exc = encodeException(makeException("ValueError", "bad value", "x"));
  const ChordJoin join =
      joinChordParts({encodeChordPart("a", "SUCCESS", 1), encodeChordPart("b-id", "FAILURE", exc),
                      encodeChordPart("c-id", "REVOKED", exc)});
  ASSERT_FALSE(join.ok);
  EXPECT_EQ(join.error.type, "ChordError");
  EXPECT_EQ(join.error.module, "celery.exceptions");
  EXPECT_EQ(join.error.args, json::array({"Dependency b-id raised ValueError('bad value')"}));
}

TEST(ChordPartTest, AnUndecodableMemberIsAJoinError) {
  const ChordJoin join = joinChordParts({"[1, \"a\""});
  ASSERT_FALSE(join.ok);
  EXPECT_EQ(join.error.type, "ChordError");
  EXPECT_EQ(join.error.args.at(0).get<std::string>().rfind("Join error: ", 0), 0u);
}

TEST(ChordPartTest, ASavedGroupIsJoinedWithItsNestedGroupsAsLists) {
  // {"result": GroupResult tuple} as GroupResult.save() stores it: [a, group(b, c), d].
  const std::string saved =
      R"({"result": [["g", null], [[["a", null], null], [["g2", null], [[["b", null], null],)"
      R"( [["c", null], null]]], [["d", null], null]]]})";
  const auto doc = [](const std::string& status, const json& result) {
    return std::optional<std::string>(json{{"status", status}, {"result", result}}.dump());
  };
  const ChordJoin join = joinSavedGroup(
      saved, {doc("SUCCESS", 1), doc("SUCCESS", 2), doc("SUCCESS", "three"), doc("SUCCESS", 4)});
  ASSERT_TRUE(join.ok) << join.error.args.dump();
  EXPECT_EQ(join.results, json::parse(R"([1, [2, "three"], 4])"));

  const json exc = encodeException(makeException("KeyError", "k", "x"));
  const ChordJoin failed = joinSavedGroup(
      saved, {doc("SUCCESS", 1), doc("FAILURE", exc), doc("SUCCESS", 3), doc("SUCCESS", 4)});
  ASSERT_FALSE(failed.ok);
  EXPECT_EQ(failed.error.args, json::array({"Join error: KeyError('k')"}));
  EXPECT_FALSE(joinSavedGroup(saved, {doc("SUCCESS", 1), std::nullopt}).ok);
  EXPECT_FALSE(joinSavedGroup("not json", {}).ok);
}

TEST(ChordPartTest, MembershipNeedsAChordAndAGroup) {
  TaskMessage task;
  task.id = "t1";
  task.group_id = "g1";
  EXPECT_FALSE(chordMemberOf(task));
  task.chord = json{{"task", "body"}};
  task.group_index = 2;
  const auto member = chordMemberOf(task);
  ASSERT_TRUE(member);
  EXPECT_EQ(member->task_id, "t1");
  EXPECT_EQ(member->group_id, "g1");
  EXPECT_EQ(member->group_index, 2);
  EXPECT_EQ(member->root_id, "t1");
  EXPECT_EQ(member->body, task.chord);

  const json step = {
      {"task", "x"},
      {"options", {{"task_id", "s1"}, {"group_id", "g2"}, {"chord", {{"task", "b"}}}}}};
  const auto from_step = chordMemberOfStep(step, "root");
  ASSERT_TRUE(from_step);
  EXPECT_EQ(from_step->task_id, "s1");
  EXPECT_EQ(from_step->group_index, std::nullopt);
  EXPECT_FALSE(chordMemberOfStep(json{{"task", "x"}, {"options", {{"task_id", "s1"}}}}, "root"));
}

}  // namespace
}  // namespace celeriac::worker::celery
