// Canvas expansion (canvas_expand.h): what a worker publishes when it applies a chain,
// group, chord or chunks signature, checked against Celery 5.2's canvas.py rules.

#include <gtest/gtest.h>

#include "worker/celery/canvas.h"
#include "worker/celery/canvas_expand.h"
#include "worker/celery/iso_time.h"

namespace celeriac::worker::celery {
namespace {

using nlohmann::json;

json sig(const std::string& task, json args, json options = json::object(),
         bool immutable = false) {
  return {{"task", task},       {"args", std::move(args)}, {"kwargs", json::object()},
          {"options", options}, {"subtask_type", nullptr}, {"immutable", immutable}};
}

json canvas(const std::string& type, json kwargs, json options = json::object()) {
  return {{"task", "celery." + type},      {"args", json::array()}, {"kwargs", std::move(kwargs)},
          {"options", std::move(options)}, {"subtask_type", type},  {"immutable", false}};
}

class CanvasExpandTest : public ::testing::Test {
 protected:
  CanvasExpandTest() {
    ctx_.origin = "celeriac@test";
    ctx_.now = *parseIsoTime("2026-01-02T03:04:05+00:00");
    ctx_.new_id = [this] { return "id-" + std::to_string(++ids_); };
    ctx_.route_for_task = [](const std::string& name) -> std::optional<std::string> {
      if (name == "celeriac.echo") return "celeriac";
      return std::nullopt;
    };
  }

  Expansion apply(const json& signature, json args = json::array(), json options = json::object()) {
    Expansion out;
    applySignature(signature, {std::move(args), std::move(options), "parent", "root"}, ctx_, out);
    EXPECT_TRUE(out.errors.empty()) << (out.errors.empty() ? "" : out.errors.front());
    return out;
  }

  static json body(const OutboundMessage& m) { return json::parse(m.body); }

  CanvasContext ctx_;
  int ids_ = 0;
};

TEST_F(CanvasExpandTest, ChordSetsItsSizeAndSendsTheHeaderWithTheBody) {
  const json chord = canvas(
      "chord", {{"header", json::array({sig("a", {1}), sig("b", {2}), sig("c", {3}, {}, true)})},
                {"body", sig("sum", {}, {{"task_id", "body-id"}})},
                {"kwargs", json::object()}});
  const Expansion out = apply(chord, json::array({"x"}));
  ASSERT_EQ(out.chord_sizes.size(), 1u);
  const std::string gid = out.chord_sizes[0].group_id;
  EXPECT_EQ(out.chord_sizes[0].size, 3);
  ASSERT_EQ(out.messages.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const OutboundMessage& m = out.messages[static_cast<std::size_t>(i)];
    EXPECT_EQ(m.headers.at("group"), gid);
    EXPECT_EQ(m.headers.at("group_index"), i);
    EXPECT_EQ(m.headers.at("parent_id"), "parent");
    EXPECT_EQ(m.headers.at("root_id"), "root");
    EXPECT_EQ(body(m)[2]["chord"]["options"]["task_id"], "body-id");
  }
  EXPECT_EQ(body(out.messages[0])[0], json::array({"x", 1}));
  EXPECT_EQ(body(out.messages[2])[0], json::array({3}));  // .si(): no partial args
  EXPECT_EQ(out.result[0][0], gid);
  // A simple header: Python's apply_chord() saves nothing, the completer reads the parts.
  EXPECT_EQ(out.chord_sizes[0].saved_group, "");
}

TEST_F(CanvasExpandTest, EmptyChordHeaderCallsTheBodyWithAnEmptyList) {
  const json chord = canvas("chord", {{"header", json::array()}, {"body", sig("sum", {})}});
  const Expansion out = apply(chord);
  EXPECT_TRUE(out.chord_sizes.empty());
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(body(out.messages[0])[0], json::array({json::array()}));
}

TEST_F(CanvasExpandTest, GroupFollowedByAStepInAChainBecomesAChord) {
  const json chain =
      canvas("chain",
             {{"tasks",
               json::array({sig("first", {}),
                            canvas("group", {{"tasks", json::array({sig("a", {}), sig("b", {})})}}),
                            sig("after", {}, {{"task_id", "after-id"}})})}});
  // The worker finished "first" and applies the rest of the chain, as trace.py does.
  TaskMessage task;
  task.id = "first-id";
  task.chain =
      json::array({sig("after", {}, {{"task_id", "after-id"}}),
                   canvas("chord", {{"header", json::array({sig("a", {}), sig("b", {})})},
                                    {"body", sig("after", {}, {{"task_id", "after-id"}})}})});
  const SuccessFollowUps follow = successFollowUps(task, 5, ctx_);
  ASSERT_TRUE(follow.errors.empty());
  ASSERT_EQ(follow.chord_sizes.size(), 1u);
  ASSERT_EQ(follow.messages.size(), 2u);
  EXPECT_EQ(body(follow.messages[0])[0], json::array({5}));
  // The chord's body carries the rest of the chain.
  EXPECT_EQ(body(follow.messages[0])[2]["chord"]["options"]["chain"].size(), 1u);

  // Applied as a whole, the chain upgrades "group, then after" to the same chord.
  const Expansion out = apply(chain, json::array({1}));
  ASSERT_EQ(out.messages.size(), 1u);
  const json embed_chain = body(out.messages[0])[2]["chain"];
  ASSERT_EQ(embed_chain.size(), 1u);
  EXPECT_EQ(embed_chain[0]["subtask_type"], "chord");
  EXPECT_EQ(embed_chain[0]["kwargs"]["body"]["options"]["task_id"], "after-id");
  EXPECT_EQ(body(out.messages[0])[0], json::array({1}));
}

TEST_F(CanvasExpandTest, ChainInsideAGroupInsideAChain) {
  TaskMessage task;
  task.id = "t0";
  const json inner_chain =
      canvas("chain", {{"tasks", json::array({sig("b", {10}), sig("c", {})})}});
  task.chain =
      json::array({canvas("group", {{"tasks", json::array({inner_chain, sig("d", {})})}})});
  const SuccessFollowUps follow = successFollowUps(task, 7, ctx_);
  ASSERT_TRUE(follow.errors.empty()) << follow.errors.front();
  ASSERT_EQ(follow.messages.size(), 2u);
  const OutboundMessage& b = follow.messages[0];
  EXPECT_EQ(b.headers.at("task"), "b");
  EXPECT_EQ(body(b)[0], json::array({7, 10}));
  ASSERT_EQ(body(b)[2]["chain"].size(), 1u);
  EXPECT_EQ(body(b)[2]["chain"][0]["task"], "c");
  // The chain's last step stands for it in the group.
  EXPECT_EQ(body(b)[2]["chain"][0]["options"]["group_id"], follow.messages[1].headers.at("group"));
  EXPECT_EQ(follow.messages[1].headers.at("task"), "d");
  EXPECT_EQ(body(follow.messages[1])[0], json::array({7}));
  ASSERT_EQ(follow.children.size(), 1u);  // one GroupResult tuple
}

TEST_F(CanvasExpandTest, ChainLinkErrorGoesToEveryStepAndLinkToTheLast) {
  const json chain = canvas("chain", {{"tasks", json::array({sig("a", {}), sig("b", {})})}},
                            {{"link_error", sig("on_error", {})}, {"link", sig("after", {})}});
  const Expansion out = apply(chain);
  ASSERT_EQ(out.messages.size(), 1u);
  const json embed = body(out.messages[0])[2];
  EXPECT_EQ(embed["errbacks"][0]["task"], "on_error");
  EXPECT_TRUE(embed["callbacks"].is_null());
  EXPECT_EQ(embed["chain"][0]["options"]["link_error"][0]["task"], "on_error");
  EXPECT_EQ(embed["chain"][0]["options"]["link"][0]["task"], "after");
}

TEST_F(CanvasExpandTest, ChunksAreAGroupOfStarmapsRoutedByTheInnerTask) {
  const json chunks =
      canvas("chunks", {{"task", sig("celeriac.echo", {})},
                        {"it", json::array({json::array({1}), json::array({2}), json::array({3})})},
                        {"n", 2}});
  const Expansion out = apply(chunks);
  ASSERT_EQ(out.messages.size(), 2u);
  for (const OutboundMessage& m : out.messages) {
    EXPECT_EQ(m.headers.at("task"), "celery.starmap");
    EXPECT_EQ(m.routing_key, "celeriac");
  }
  EXPECT_EQ(body(out.messages[0])[1]["it"], json::parse("[[1], [2]]"));
  EXPECT_EQ(body(out.messages[1])[1]["it"], json::parse("[[3]]"));
  EXPECT_TRUE(out.chord_sizes.empty());
}

TEST_F(CanvasExpandTest, CompletionsFollowChordDescend) {
  const json group = canvas("group", {{"tasks", json::array({sig("a", {}), sig("b", {})})}});
  EXPECT_EQ(chordCompletions(sig("a", {})), 1);
  EXPECT_EQ(chordCompletions(group), 2);
  EXPECT_EQ(chordCompletions(canvas("chain", {{"tasks", json::array({sig("a", {}), group})}})), 2);
  EXPECT_EQ(chordCompletions(canvas("chord", {{"header", json::array()}, {"body", group}})), 2);
}

TEST_F(CanvasExpandTest, FailedChainStepReportsTheChordPartsOfTheRest) {
  TaskMessage task;
  task.id = "t0";
  task.chain = json::array({sig("last", {},
                                {{"task_id", "last-id"},
                                 {"group_id", "g"},
                                 {"group_index", 1},
                                 {"chord", sig("body", {})}})});
  const FailureFollowUps follow = failureFollowUps(task, ctx_);
  ASSERT_EQ(follow.chord_parts.size(), 1u);
  EXPECT_EQ(follow.chord_parts[0].task_id, "last-id");
  EXPECT_EQ(follow.chord_parts[0].group_index, 1);
  EXPECT_EQ(follow.remaining_chain_ids, std::vector<std::string>{"last-id"});
}

// chord([chain(a, group(b, c)), d], body) as Python's client sends it: the header's size
// (3) is written by the client; the group step is frozen into the header's group. When
// the worker that ran `a` publishes b and c, it must not write 2 over that 3 (Python's
// _apply_tasks() does, and the header then completes before d has run).
TEST_F(CanvasExpandTest, ChainStepGroupInAChordHeaderLeavesTheHeaderSizeAlone) {
  const json chord_body = sig("collect", {}, {{"task_id", "body-id"}});
  const json member_options = {{"group_id", "G"}, {"chord", chord_body}, {"group_index", 0}};
  json b = sig("b", {}, member_options);
  b["options"]["task_id"] = "b-id";
  json c = sig("c", {}, member_options);
  c["options"]["task_id"] = "c-id";
  TaskMessage task;
  task.id = "a-id";
  task.chain = json::array({canvas(
      "group", {{"tasks", json::array({b, c})}},
      {{"task_id", "G"}, {"group_id", "G"}, {"chord", chord_body}, {"group_index", 0}})});
  const SuccessFollowUps follow = successFollowUps(task, 1, ctx_);
  ASSERT_TRUE(follow.errors.empty()) << follow.errors.front();
  EXPECT_TRUE(follow.chord_sizes.empty());
  ASSERT_EQ(follow.messages.size(), 2u);
  for (const OutboundMessage& m : follow.messages) {
    EXPECT_EQ(m.headers.at("group"), "G");
    EXPECT_EQ(body(m)[2]["chord"]["options"]["task_id"], "body-id");
    EXPECT_EQ(body(m)[0], json::array({1}));
  }
}

// The same chord applied by celeriac (a chord as a chain step, or a chord body): the
// size covers the whole header, and the chain's group is frozen into the header's group
// (group._freeze_group_tasks()), so its members report there, not to a group of their own.
TEST_F(CanvasExpandTest, ChordWhoseHeaderHoldsAChainEndingInAGroup) {
  const json inner = canvas("group", {{"tasks", json::array({sig("b", {}), sig("c", {})})}});
  const json chord = canvas(
      "chord",
      {{"header", json::array({canvas("chain", {{"tasks", json::array({sig("a", {1}), inner})}}),
                               sig("d", {3})})},
       {"body", sig("collect", {}, {{"task_id", "body-id"}})}});
  const Expansion out = apply(chord);
  ASSERT_EQ(out.chord_sizes.size(), 1u);
  const std::string gid = out.chord_sizes[0].group_id;
  EXPECT_EQ(out.chord_sizes[0].size, 3);
  ASSERT_EQ(out.messages.size(), 2u);  // a (carrying the group as its chain) and d
  EXPECT_EQ(out.messages[1].headers.at("group"), gid);
  const json rest = body(out.messages[0])[2]["chain"];
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0]["options"]["task_id"], gid);

  // Complex (the chain's result is the group's): saved as Python's apply_chord() does,
  // the chain's result parented by its first step's, so the body gets [[b, c], d].
  const std::string a_id = out.messages[0].task_id;
  const std::string d_id = out.messages[1].task_id;
  const json leaves = rest[0]["kwargs"]["tasks"];
  const std::string b_id = leaves[0]["options"]["task_id"].get<std::string>();
  const std::string c_id = leaves[1]["options"]["task_id"].get<std::string>();
  const std::string expected = R"({"result": [[")" + gid + R"(", null], [[[")" + gid + R"(", [[")" +
                               a_id + R"(", null], null]], [[[")" + b_id +
                               R"(", null], null], [[")" + c_id + R"(", null], null]]], [[")" +
                               d_id + R"(", null], null]]]})";
  EXPECT_EQ(out.chord_sizes[0].saved_group, expected);

  TaskMessage a;
  a.id = a_id;
  a.chain = rest;
  const SuccessFollowUps follow = successFollowUps(a, 1, ctx_);
  ASSERT_TRUE(follow.errors.empty()) << follow.errors.front();
  EXPECT_TRUE(follow.chord_sizes.empty());
  ASSERT_EQ(follow.messages.size(), 2u);
  for (const OutboundMessage& m : follow.messages) {
    EXPECT_EQ(m.headers.at("group"), gid);
    EXPECT_EQ(body(m)[2]["chord"]["options"]["task_id"], "body-id");
  }
}

}  // namespace
}  // namespace celeriac::worker::celery
