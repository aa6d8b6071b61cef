#include "worker/celery/chord_part.h"

#include "worker/celery/python_json.h"
#include "worker/celery/python_repr.h"

namespace celeriac::worker::celery {

using nlohmann::json;

std::optional<ChordMember> chordMemberOf(const TaskMessage& task) {
  if (!task.chord.is_object() || task.group_id.empty() || task.id.empty()) return std::nullopt;
  ChordMember member;
  member.task_id = task.id;
  member.group_id = task.group_id;
  member.group_index = task.group_index;
  member.root_id = task.root_id.empty() ? task.id : task.root_id;
  member.body = task.chord;
  return member;
}

std::optional<ChordMember> chordMemberOfStep(const json& step, const std::string& root_id) {
  if (!step.is_object()) return std::nullopt;
  const auto options = step.find("options");
  if (options == step.end() || !options->is_object()) return std::nullopt;
  const json chord = options->value("chord", json(nullptr));
  const json task_id = options->value("task_id", json(nullptr));
  const json group_id = options->value("group_id", json(nullptr));
  if (!chord.is_object() || !task_id.is_string() || !group_id.is_string()) return std::nullopt;
  ChordMember member;
  member.task_id = task_id.get<std::string>();
  member.group_id = group_id.get<std::string>();
  if (member.task_id.empty() || member.group_id.empty()) return std::nullopt;
  const json index = options->value("group_index", json(nullptr));
  if (index.is_number_integer()) member.group_index = index.get<int>();
  member.root_id = root_id;
  member.body = chord;
  return member;
}

namespace {

// json.dumps() with Python's default separators (", " and ": "), so a member written
// here is the same text a Python worker would write for the same part.
void dumpSpaced(const json& value, std::string& out) {
  if (value.is_array()) {
    out += '[';
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i != 0) out += ", ";
      dumpSpaced(value[i], out);
    }
    out += ']';
  } else if (value.is_object()) {
    // nlohmann sorts keys; an encoded exception goes back to Celery's key order.
    std::vector<std::string> keys;
    for (const char* key : {"exc_type", "exc_message", "exc_module"}) {
      if (value.contains(key)) keys.emplace_back(key);
    }
    for (const auto& [key, item] : value.items()) {
      if (key != "exc_type" && key != "exc_message" && key != "exc_module") keys.push_back(key);
    }
    out += '{';
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i != 0) out += ", ";
      out += dumpPythonJson(json(keys[i]));
      out += ": ";
      dumpSpaced(value.at(keys[i]), out);
    }
    out += '}';
  } else {
    out += dumpPythonJson(value);
  }
}

}  // namespace

std::string encodeChordPart(std::string_view task_id, std::string_view state,
                            const json& encoded_result) {
  std::string out;
  dumpSpaced(json::array({1, std::string(task_id), std::string(state), encoded_result}), out);
  return out;
}

std::string savedGroupDocument(const std::string& group_id, const json& member_results) {
  std::string out;
  dumpSpaced(json{{"result", json::array({json::array({group_id, nullptr}), member_results})}},
             out);
  return out;
}

std::string chordPartScore(const std::optional<int>& group_index) {
  return group_index ? std::to_string(*group_index) : std::string("+inf");
}

ExceptionInfo chordError(std::string_view message) {
  ExceptionInfo e;
  e.type = "ChordError";
  e.module = "celery.exceptions";
  e.args = json::array({std::string(message)});
  return e;
}

namespace {

// repr() of the exception Python rebuilds from a stored one (exception_to_python).
std::string exceptionRepr(const json& encoded) {
  if (!encoded.is_object()) return pythonRepr(encoded);
  const json type = encoded.value("exc_type", json(nullptr));
  json args = encoded.value("exc_message", json::array());
  if (!args.is_array()) args = json::array({args});
  return pythonExceptionRepr(type.is_string() ? type.get<std::string>() : "Exception", args);
}

}  // namespace

ChordJoin joinChordParts(const std::vector<std::string>& members) {
  ChordJoin join;
  for (const std::string& text : members) {
    const Result<json> part = parsePythonJson(text);
    if (!part || !part->is_array() || part->size() != 4 || !(*part)[1].is_string() ||
        !(*part)[2].is_string()) {
      join.error = chordError("Join error: undecodable chord part " + pythonRepr(json(text)));
      return join;
    }
    const std::string& tid = (*part)[1].get_ref<const std::string&>();
    const std::string& state = (*part)[2].get_ref<const std::string&>();
    if (state == "FAILURE" || state == "REVOKED") {
      join.error = chordError("Dependency " + tid + " raised " + exceptionRepr((*part)[3]));
      return join;
    }
    join.results.push_back((*part)[3]);
  }
  join.ok = true;
  return join;
}

namespace {

// Walks a result tuple: [[id, parent], null] is a task, [[gid, parent], [children]] a
// group. Returns false (and sets join.error) on the first leaf that fails the join.
bool joinTuple(const json& tuple, const std::vector<std::optional<std::string>>& docs,
               std::size_t& next, json& out, ChordJoin& join) {
  if (!tuple.is_array() || tuple.size() != 2) {
    join.error = chordError("Join error: malformed result tuple " + pythonRepr(tuple));
    return false;
  }
  if (tuple[1].is_array()) {
    json values = json::array();
    for (const json& child : tuple[1]) {
      if (!joinTuple(child, docs, next, values, join)) return false;
    }
    out.push_back(std::move(values));
    return true;
  }
  const std::size_t index = next++;
  if (index >= docs.size() || !docs[index]) {
    join.pending = true;
    join.error = chordError("Join error: no result for " + tuple[0].dump());
    return false;
  }
  const Result<json> meta = parsePythonJson(*docs[index]);
  if (!meta || !meta->is_object()) {
    join.error = chordError("Join error: undecodable result for " + tuple[0].dump());
    return false;
  }
  const std::string status = meta->value("status", "");
  if (status != "SUCCESS" && status != "FAILURE" && status != "REVOKED") {
    join.pending = true;
    join.error = chordError("Join error: result of " + tuple[0].dump() + " is not ready");
    return false;
  }
  const json result = meta->value("result", json(nullptr));
  if (status == "FAILURE" || status == "REVOKED") {
    join.error = chordError("Join error: " + exceptionRepr(result));
    return false;
  }
  out.push_back(result);
  return true;
}

}  // namespace

namespace {

void leavesOf(const json& tuple, std::vector<std::string>& out) {
  if (!tuple.is_array() || tuple.size() != 2) return;
  if (tuple[1].is_array()) {
    for (const json& child : tuple[1]) leavesOf(child, out);
  } else if (tuple[0].is_array() && !tuple[0].empty() && tuple[0][0].is_string()) {
    out.push_back(tuple[0][0].get<std::string>());
  }
}

}  // namespace

std::vector<std::string> savedGroupLeaves(const std::string& saved) {
  std::vector<std::string> out;
  const Result<json> group = parsePythonJson(saved);
  if (group && group->is_object() && group->contains("result")) leavesOf((*group)["result"], out);
  return out;
}

ChordJoin joinSavedGroup(const std::string& saved,
                         const std::vector<std::optional<std::string>>& leaf_documents) {
  ChordJoin join;
  const Result<json> group = parsePythonJson(saved);
  if (!group || !group->is_object() || !group->contains("result") ||
      !(*group)["result"].is_array() || (*group)["result"].size() != 2 ||
      !(*group)["result"][1].is_array()) {
    join.error = chordError("Join error: undecodable saved group " + pythonRepr(json(saved)));
    return join;
  }
  std::size_t next = 0;
  for (const json& child : (*group)["result"][1]) {
    if (!joinTuple(child, leaf_documents, next, join.results, join)) {
      join.results = json::array();
      return join;
    }
  }
  join.ok = true;
  return join;
}

}  // namespace celeriac::worker::celery
