#include "worker/amqp/delivery_assembler.h"

#include <gtest/gtest.h>

#include <string>

namespace celeriac::worker::amqp {
namespace {

using Result = DeliveryAssembler::Result;

// Frames as rabbitmq-c decodes them; the strings they point to live in the test.
struct Frames {
  std::string consumer_tag = "celeriac.1.0.0";
  std::string exchange = "";
  std::string routing_key = "q";
  std::string content_type = "application/json";
  amqp_basic_deliver_t deliver{};
  amqp_basic_properties_t props{};

  static amqp_bytes_t bytes(const std::string& s) {
    return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
  }

  amqp_frame_t method(std::uint64_t tag, bool redelivered = false) {
    deliver.consumer_tag = bytes(consumer_tag);
    deliver.delivery_tag = tag;
    deliver.redelivered = redelivered ? 1 : 0;
    deliver.exchange = bytes(exchange);
    deliver.routing_key = bytes(routing_key);
    amqp_frame_t f{};
    f.frame_type = AMQP_FRAME_METHOD;
    f.channel = 1;
    f.payload.method.id = AMQP_BASIC_DELIVER_METHOD;
    f.payload.method.decoded = &deliver;
    return f;
  }
  amqp_frame_t header(std::uint64_t body_size) {
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    props.content_type = bytes(content_type);
    props.priority = 7;
    amqp_frame_t f{};
    f.frame_type = AMQP_FRAME_HEADER;
    f.channel = 1;
    f.payload.properties.class_id = 60;
    f.payload.properties.body_size = body_size;
    f.payload.properties.decoded = &props;
    return f;
  }
  static amqp_frame_t body(const std::string& fragment) {
    amqp_frame_t f{};
    f.frame_type = AMQP_FRAME_BODY;
    f.channel = 1;
    f.payload.body_fragment = bytes(fragment);
    return f;
  }
  static amqp_frame_t otherMethod(amqp_method_number_t id) {
    amqp_frame_t f{};
    f.frame_type = AMQP_FRAME_METHOD;
    f.channel = 1;
    f.payload.method.id = id;
    return f;
  }
};

TEST(DeliveryAssemblerTest, AssemblesABodySplitOverSeveralFrames) {
  Frames f;
  DeliveryAssembler a;
  EXPECT_EQ(a.onFrame(f.method(42, true)), Result::kPending);
  EXPECT_TRUE(a.inProgress());
  EXPECT_EQ(a.onFrame(f.header(11)), Result::kPending);
  const std::string part1 = "hello ", part2 = "world";
  EXPECT_EQ(a.onFrame(Frames::body(part1)), Result::kPending);
  EXPECT_EQ(a.onFrame(Frames::body(part2)), Result::kComplete);
  EXPECT_FALSE(a.inProgress());
  const DeliveryAssembler::Assembled d = a.take();
  EXPECT_EQ(d.delivery_tag, 42u);
  EXPECT_EQ(d.consumer_tag, "celeriac.1.0.0");
  EXPECT_EQ(d.message.body, "hello world");
  EXPECT_EQ(d.message.routing_key, "q");
  EXPECT_EQ(d.message.content_type, "application/json");
  EXPECT_EQ(d.message.priority, std::optional<std::uint8_t>(7));
  EXPECT_TRUE(d.message.redelivered);
}

TEST(DeliveryAssemblerTest, AnEmptyBodyIsCompleteAtItsHeader) {
  Frames f;
  DeliveryAssembler a;
  a.onFrame(f.method(1));
  EXPECT_EQ(a.onFrame(f.header(0)), Result::kComplete);
  EXPECT_EQ(a.take().message.body, "");
}

TEST(DeliveryAssemblerTest, CopiesEverythingSoTheFramesMayBeFreedAtOnce) {
  Frames f;
  DeliveryAssembler a;
  a.onFrame(f.method(3));
  f.consumer_tag.assign(f.consumer_tag.size(), 'x');  // rabbitmq-c reused its pool
  std::string chunk = "abc";
  a.onFrame(f.header(3));
  f.content_type.assign(f.content_type.size(), 'y');
  ASSERT_EQ(a.onFrame(Frames::body(chunk)), Result::kComplete);
  chunk = "zzz";
  const auto d = a.take();
  EXPECT_EQ(d.consumer_tag, "celeriac.1.0.0");
  EXPECT_EQ(d.message.content_type, "application/json");
  EXPECT_EQ(d.message.body, "abc");
}

TEST(DeliveryAssemblerTest, OtherMethodsAreNotItsBetweenDeliveries) {
  DeliveryAssembler a;
  EXPECT_EQ(a.onFrame(Frames::otherMethod(AMQP_BASIC_QOS_OK_METHOD)), Result::kNotMine);
  EXPECT_EQ(a.onFrame(Frames::otherMethod(AMQP_BASIC_CANCEL_METHOD)), Result::kNotMine);
}

TEST(DeliveryAssemblerTest, ProtocolViolationsAreErrors) {
  Frames f;
  {
    DeliveryAssembler a;
    EXPECT_EQ(a.onFrame(Frames::body("stray")), Result::kError);
  }
  {
    DeliveryAssembler a;
    a.onFrame(f.method(1));
    EXPECT_EQ(a.onFrame(Frames::body("no header")), Result::kError);
  }
  {
    DeliveryAssembler a;
    a.onFrame(f.method(1));
    a.onFrame(f.header(2));
    EXPECT_EQ(a.onFrame(Frames::body("too long")), Result::kError);
    EXPECT_FALSE(a.error().empty());
    EXPECT_FALSE(a.inProgress());
  }
}

TEST(DeliveryAssemblerTest, AssemblesDeliveriesBackToBack) {
  Frames f;
  DeliveryAssembler a;
  for (std::uint64_t tag = 1; tag <= 3; ++tag) {
    a.onFrame(f.method(tag));
    a.onFrame(f.header(1));
    ASSERT_EQ(a.onFrame(Frames::body("x")), Result::kComplete);
    EXPECT_EQ(a.take().delivery_tag, tag);
  }
}

}  // namespace
}  // namespace celeriac::worker::amqp
