# Compiler options every celeriac target gets: strict warnings (errors unless
# CELERIAC_WERROR=OFF) and, with CELERIAC_SANITIZE, ASan+UBSan that abort on the
# first report so a test cannot pass over one.

set(CELERIAC_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CELERIAC_WERROR)
  list(APPEND CELERIAC_WARNINGS -Werror)
endif()

if(CELERIAC_SANITIZE)
  set(CELERIAC_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(${CELERIAC_SANITIZER_FLAGS})
  add_link_options(${CELERIAC_SANITIZER_FLAGS})
endif()

# CELERIAC_FUZZ: every library is built for libFuzzer (coverage hooks, no main) with
# ASan+UBSan; the fuzz targets add -fsanitize=fuzzer themselves (tests/fuzz). -O1 and
# asserts on (nlohmann's JSON_ASSERT, libstdc++'s bounds checks) whatever the build
# type, so that a fuzzer sees misuse that is silent UB in a release build.
if(CELERIAC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CELERIAC_FUZZ needs clang (CXX=clang++): libFuzzer is part of clang")
  endif()
  if(CELERIAC_SANITIZE)
    message(FATAL_ERROR "CELERIAC_FUZZ already builds with ASan+UBSan; drop CELERIAC_SANITIZE")
  endif()
  set(CELERIAC_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(-fsanitize=fuzzer-no-link ${CELERIAC_FUZZ_SANITIZERS} -O1 -g -UNDEBUG
                      -D_GLIBCXX_ASSERTIONS)
  add_link_options(${CELERIAC_FUZZ_SANITIZERS})
endif()

# celeriac_target(<target>): apply the project's warnings to one of our own targets
# (never to third-party code).
function(celeriac_target target)
  target_compile_options(${target} PRIVATE ${CELERIAC_WARNINGS})
endfunction()
