#include "worker/celery/result_keys.h"

namespace celeriac::worker::celery {

std::string resultKey(std::string_view task_id) {
  std::string key(kResultKeyPrefix);
  key += task_id;
  return key;
}

std::string groupKey(std::string_view group_id, std::string_view suffix) {
  std::string key = "celery-taskset-meta-";
  key += group_id;
  key += suffix;
  return key;
}

std::string redeliveredStartsKey(std::string_view task_id) {
  std::string key = "celeriac-redelivered-starts-";
  key += task_id;
  return key;
}

}  // namespace celeriac::worker::celery
