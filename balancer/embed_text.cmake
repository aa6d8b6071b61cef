# cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DNAMESPACE=<ns> -DNAME=<identifier>
#       -DHEADER=<include> -P embed_text.cmake
# Writes OUTPUT: a .cc defining `const std::string_view NAMESPACE::NAME` as the text of
# INPUT, as a raw string literal. The balancer's config schema reaches the (pure)
# library this way, at build time, from the one file in schemas/ that users read too.
file(READ "${INPUT}" text)
set(delimiter "embedded_text")  # at most 16 characters (C++)
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )${delimiter}\"")
endif()
file(WRITE "${OUTPUT}"
     "// Generated from ${INPUT} by balancer/embed_text.cmake: edit that file, not this one.\n"
     "#include \"${HEADER}\"\n\n"
     "namespace ${NAMESPACE} {\n\n"
     "const std::string_view ${NAME} = R\"${delimiter}(${text})${delimiter}\";\n\n"
     "}  // namespace ${NAMESPACE}\n")
