#pragma once
// Conversions between AMQP field tables (rabbitmq-c) and JSON.
//
// Celery headers arrive as an AMQP table written by py-amqp: strings as
// 'S', bool 't', ints 'I'/'L'/'l', floats 'd', None as 'V' (void), lists 'A', dicts
// 'F', datetimes 'T'. Every kind rabbitmq-c decodes is mapped; timestamps become
// integer epoch seconds; byte arrays become strings. Loop thread; no allocation
// outlives the call except in the returned JSON.
//
// TableBuilder goes the other way for publishing: it owns every buffer the
// amqp_table_t points to, so the table stays valid as long as the builder lives.

#include <amqp.h>

#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::worker::amqp {

nlohmann::json tableToJson(const amqp_table_t& table);
nlohmann::json fieldToJson(const amqp_field_value_t& value);

class TableBuilder {
 public:
  // Builds a table from a JSON object (non-objects give an empty table). Nested
  // objects and arrays become 'F' and 'A'; integers 'l' (int64); null 'V'.
  explicit TableBuilder(const nlohmann::json& object);
  TableBuilder(const TableBuilder&) = delete;
  TableBuilder& operator=(const TableBuilder&) = delete;

  [[nodiscard]] const amqp_table_t& table() const { return root_; }

 private:
  amqp_table_t buildTable(const nlohmann::json& object);
  amqp_field_value_t buildValue(const nlohmann::json& value);
  amqp_bytes_t keep(std::string text);

  std::deque<std::string> strings_;
  std::deque<std::vector<amqp_table_entry_t>> entry_blocks_;
  std::deque<std::vector<amqp_field_value_t>> array_blocks_;
  amqp_table_t root_{};
};

}  // namespace celeriac::worker::amqp
