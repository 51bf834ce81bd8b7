# libuepoll-preload.so defines read, write, eventfd, pipe ... for the program. If uepoll's
# own code called one of those names, the call would come back into the library (a
# uepoll pipe for the library's own doorbell, or recursion): the core uses raw system
# calls instead (platform/kernel_fd.h). This check lists the library's relocations
# against the names it exports (exports.map); the only ones allowed are the interposers'
# own forwarding (__dup2 -> dup2, __pipe -> pipe, closefrom -> close_range, __poll_chk ->
# poll, __ppoll_chk -> ppoll, lseek64 -> lseek, pread64 -> pread, pwrite64 -> pwrite, and syscall() -> close, close_range,
# dup, dup2, dup3, fcntl, ioctl for the raw forms of those calls). fopen too: the library
# reads /proc and writes traces with it, and its interposer only checks the number the
# kernel handed out (stale.cc), never serving anything.
# cmake -DLIB=... -DMAP=exports.map -DREADELF=... -P check_self_calls.cmake
cmake_policy(SET CMP0057 NEW)  # IN_LIST
set(allowed fopen close close_range dup dup2 dup3 fcntl ioctl lseek pipe poll ppoll pread pwrite)
execute_process(COMMAND ${READELF} -rW ${LIB} OUTPUT_VARIABLE relocs RESULT_VARIABLE rc)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "readelf failed on ${LIB}")
endif()
file(READ ${MAP} map)
string(REGEX MATCHALL "[_a-z0-9]+;" names "${map}")
set(bad "")
set(seen 0)
foreach(entry IN LISTS names)
  string(REPLACE ";" "" name "${entry}")
  if(relocs MATCHES "(JUMP_SLOT|GLOB_DAT)[^\n]* ${name}(@[^\n]*)?( \\+ 0)?\n")
    math(EXPR seen "${seen} + 1")
    if(NOT name IN_LIST allowed)
      list(APPEND bad ${name})
    endif()
  endif()
endforeach()
if(seen EQUAL 0)
  message(FATAL_ERROR "no relocation against an exported name at all: the check reads nothing")
endif()
if(bad)
  message(FATAL_ERROR "the library calls names it interposes: ${bad}")
endif()
message("only the interposers' own forwarding calls exported names (${seen} names)")
