#pragma once
// Loopback ports for the servers the C++ integration tests start.
//
// Many test programs run at once (ctest -j), each starting its own RabbitMQ, Redis and
// stub, so a port must be one that no other test takes meanwhile, and that nothing else
// binds by chance between our choosing it and the server binding it (or while a test
// restarts a server on the same port). A port the kernel handed out for bind(0) is
// neither: it comes from the ephemeral range, which every outgoing connection and every
// rabbitmqctl Erlang node draw from (rabbitmqctl 3.10 even listens on fixed ports in it,
// 35672-35682, unless told otherwise). So ports come from below the ephemeral range and
// each is claimed by an flock on /tmp/celeriac-test-ports/<port>, held until the
// process exits (a crashed test frees its ports). tests/support/loopback_ports.py does the same
// for the Python tests, and deploy/local/fleet.sh for the fleet.

namespace celeriac::testing::integration {

// The first of `count` consecutive loopback ports, free now and reserved for this
// process. Throws std::runtime_error if none are found.
[[nodiscard]] int reserveLoopbackPorts(int count);

// One reserved port nothing listens on.
[[nodiscard]] inline int unusedLoopbackPort() { return reserveLoopbackPorts(1); }

}  // namespace celeriac::testing::integration
