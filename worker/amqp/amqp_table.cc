#include "worker/amqp/amqp_table.h"

#include "worker/amqp/amqp_wire.h"  // bytesToString

namespace celeriac::worker::amqp {

nlohmann::json fieldToJson(const amqp_field_value_t& value) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return value.value.boolean != 0;
    case AMQP_FIELD_KIND_I8: return value.value.i8;
    case AMQP_FIELD_KIND_U8: return value.value.u8;
    case AMQP_FIELD_KIND_I16: return value.value.i16;
    case AMQP_FIELD_KIND_U16: return value.value.u16;
    case AMQP_FIELD_KIND_I32: return value.value.i32;
    case AMQP_FIELD_KIND_U32: return value.value.u32;
    case AMQP_FIELD_KIND_I64: return value.value.i64;
    case AMQP_FIELD_KIND_U64: return value.value.u64;
    case AMQP_FIELD_KIND_TIMESTAMP: return value.value.u64;
    case AMQP_FIELD_KIND_F32: return static_cast<double>(value.value.f32);
    case AMQP_FIELD_KIND_F64: return value.value.f64;
    case AMQP_FIELD_KIND_DECIMAL: {
      // value * 10^-decimals; Celery never sends these, keep the number readable.
      double v = static_cast<double>(value.value.decimal.value);
      for (int i = 0; i < value.value.decimal.decimals; ++i) v /= 10.0;
      return v;
    }
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: return bytesToString(value.value.bytes);
    case AMQP_FIELD_KIND_ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      for (int i = 0; i < value.value.array.num_entries; ++i) {
        out.push_back(fieldToJson(value.value.array.entries[i]));
      }
      return out;
    }
    case AMQP_FIELD_KIND_TABLE: return tableToJson(value.value.table);
    case AMQP_FIELD_KIND_VOID:
    default: return nullptr;
  }
}

nlohmann::json tableToJson(const amqp_table_t& table) {
  nlohmann::json out = nlohmann::json::object();
  for (int i = 0; i < table.num_entries; ++i) {
    const amqp_table_entry_t& entry = table.entries[i];
    out[bytesToString(entry.key)] = fieldToJson(entry.value);
  }
  return out;
}

TableBuilder::TableBuilder(const nlohmann::json& object) { root_ = buildTable(object); }

amqp_bytes_t TableBuilder::keep(std::string text) {
  strings_.push_back(std::move(text));
  std::string& kept = strings_.back();
  amqp_bytes_t bytes;
  bytes.len = kept.size();
  bytes.bytes = kept.data();
  return bytes;
}

amqp_table_t TableBuilder::buildTable(const nlohmann::json& object) {
  amqp_table_t table{};
  if (!object.is_object() || object.empty()) return table;
  auto& entries = entry_blocks_.emplace_back();
  entries.reserve(object.size());
  for (const auto& [key, value] : object.items()) {
    amqp_table_entry_t entry{};
    entry.key = keep(key);
    entry.value = buildValue(value);
    entries.push_back(entry);
  }
  table.num_entries = static_cast<int>(entries.size());
  table.entries = entries.data();
  return table;
}

amqp_field_value_t TableBuilder::buildValue(const nlohmann::json& value) {
  amqp_field_value_t field{};
  switch (value.type()) {
    case nlohmann::json::value_t::boolean:
      field.kind = AMQP_FIELD_KIND_BOOLEAN;
      field.value.boolean = value.get<bool>() ? 1 : 0;
      break;
    case nlohmann::json::value_t::number_integer:
      field.kind = AMQP_FIELD_KIND_I64;
      field.value.i64 = value.get<std::int64_t>();
      break;
    case nlohmann::json::value_t::number_unsigned:
      field.kind = AMQP_FIELD_KIND_I64;
      field.value.i64 = static_cast<std::int64_t>(value.get<std::uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      field.kind = AMQP_FIELD_KIND_F64;
      field.value.f64 = value.get<double>();
      break;
    case nlohmann::json::value_t::string:
      field.kind = AMQP_FIELD_KIND_UTF8;
      field.value.bytes = keep(value.get<std::string>());
      break;
    case nlohmann::json::value_t::array: {
      auto& items = array_blocks_.emplace_back();
      items.reserve(value.size());
      for (const auto& item : value) items.push_back(buildValue(item));
      field.kind = AMQP_FIELD_KIND_ARRAY;
      field.value.array.num_entries = static_cast<int>(items.size());
      field.value.array.entries = items.empty() ? nullptr : items.data();
      break;
    }
    case nlohmann::json::value_t::object:
      field.kind = AMQP_FIELD_KIND_TABLE;
      field.value.table = buildTable(value);
      break;
    default:
      field.kind = AMQP_FIELD_KIND_VOID;
      break;
  }
  return field;
}

}  // namespace celeriac::worker::amqp
