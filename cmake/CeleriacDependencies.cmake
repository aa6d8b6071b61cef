# Every third-party library comes from a Debian package listed in
# deploy/packages.txt. CMake config packages where Debian ships them, pkg-config
# for the C libraries that only ship .pc files.

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CURL REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
# libcrypto: the SHA-1 of our Redis scripts, for EVALSHA (worker/redis/redis_script.h);
# libssl: TLS for the own HTTP/2 client (worker/http/tls_stream.h).
find_package(OpenSSL REQUIRED COMPONENTS Crypto SSL)
find_package(prometheus-cpp CONFIG REQUIRED)
# civetweb (libcivetweb-dev): the HTTP server of the worker's metrics and probe port.
find_package(civetweb CONFIG REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(RABBITMQ REQUIRED IMPORTED_TARGET librabbitmq)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# libnghttp2-dev: the worker's lean HTTP/2 client (worker/http/h2_connection.h) and the
# llm-stub's HTTP/2 server side.
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
if(CELERIAC_BUILD_TESTS)
  find_package(GTest REQUIRED)
  find_library(HTTP_PARSER_LIB http_parser REQUIRED)
  find_path(HTTP_PARSER_INCLUDE http_parser.h REQUIRED)
endif()
if(CELERIAC_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
# valijson is header-only; its headers live under /usr/include/valijson.
find_path(VALIJSON_INCLUDE valijson/validator.hpp REQUIRED)
