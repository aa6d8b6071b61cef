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

# celeriac_target(<target>): apply the project's warnings to one of our own targets
# (never to third-party code).
function(celeriac_target target)
  target_compile_options(${target} PRIVATE ${CELERIAC_WARNINGS})
endfunction()
