#include "worker/redis/redis_script.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <cstdio>

namespace celeriac::worker::redis {

namespace {

std::string sha1Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

}  // namespace

RedisScript::RedisScript(std::string source)
    : source_(std::move(source)), sha1_(sha1Hex(source_)) {}

std::vector<std::string> scriptCommand(const RedisScript& script, bool with_source,
                                       const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back(with_source ? "EVAL" : "EVALSHA");
  argv.push_back(with_source ? script.source() : script.sha1());
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

RedisValue copyReply(const redisReply* reply) {
  RedisValue value;
  if (reply == nullptr) return value;
  switch (reply->type) {
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::kInteger;
      value.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::kString;
      value.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::kStatus;
      value.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      value.type = RedisValue::Type::kError;
      value.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::kArray;
      for (std::size_t i = 0; i < reply->elements; ++i) {
        value.elements.push_back(copyReply(reply->element[i]));
      }
      break;
    default:
      break;
  }
  return value;
}

bool isNoScript(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR && reply->len >= 8 &&
         std::string(reply->str, 8) == "NOSCRIPT";
}

}  // namespace celeriac::worker::redis
