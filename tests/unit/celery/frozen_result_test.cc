// frozenResult() (frozen_result.h): Signature.freeze()'s result tuples, as Celery 5.2's
// canvas.py builds them and result.py's as_tuple() writes them.

#include "worker/celery/frozen_result.h"

#include <gtest/gtest.h>

#include <string>

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

json sig(const std::string& task, const std::string& id) {
  return {{"task", task},
          {"args", json::array()},
          {"kwargs", json::object()},
          {"options", {{"task_id", id}}},
          {"subtask_type", nullptr},
          {"immutable", false}};
}

json canvas(const std::string& type, json kwargs, json options = json::object()) {
  return {{"task", "celery." + type},      {"args", json::array()}, {"kwargs", std::move(kwargs)},
          {"options", std::move(options)}, {"subtask_type", type},  {"immutable", false}};
}

TEST(FrozenResultTest, FollowsCeleryFreeze) {
  EXPECT_EQ(frozenResult(sig("a", "A")), json::parse(R"([["A", null], null])"));
  // Nested groups are unrolled with their members reversed (group._freeze_unroll()).
  const json nested = canvas(
      "group",
      {{"tasks",
        json::array({sig("a", "A"),
                     canvas("group", {{"tasks", json::array({sig("b", "B"), sig("c", "C")})}}),
                     sig("d", "D")})}},
      {{"task_id", "G"}});
  EXPECT_EQ(frozenResult(nested), json::parse(R"([["G", null], [[["A", null], null],)"
                                              R"( [["C", null], null], [["B", null], null],)"
                                              R"( [["D", null], null]]])"));
  // A chain: its last step's result, each step the parent of the next; a group followed
  // by a step is a chord, whose header group is the body's parent (and gets the step
  // before it as its own: prepare_steps() links the chord's root node).
  const json chain = canvas(
      "chain",
      {{"tasks",
        json::array({sig("a", "A"), canvas("chain", {{"tasks", json::array({sig("b", "B")})}}),
                     canvas("group", {{"tasks", json::array({sig("c", "C"), sig("d", "D")})}},
                            {{"task_id", "G"}}),
                     sig("e", "E")})}});
  EXPECT_EQ(
      frozenResult(chain),
      json::parse(R"([["E", [["G", [["B", [["A", null], null]], null]], [[["C", null], null],)"
                  R"( [["D", null], null]]]], null])"));
  // A chord: its body's result, the header's group result as the first parent.
  const json chord = canvas(
      "chord",
      {{"header", canvas("group", {{"tasks", json::array({sig("a", "A")})}}, {{"task_id", "H"}})},
       {"body", sig("b", "B")}});
  EXPECT_EQ(frozenResult(chord),
            json::parse(R"([["B", [["H", null], [[["A", null], null]]]], null])"));
  EXPECT_TRUE(frozenResult("not a signature").is_null());
}

}  // namespace
}  // namespace celeriac::worker::celery
