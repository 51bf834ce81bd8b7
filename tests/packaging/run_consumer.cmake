# MODE=install (default): installs the build tree into a fresh prefix, then configures,
# builds and runs the out-of-tree consumer project (examples/consumer) against that prefix
# only. MODE=subdir: the consumer builds uepoll itself with add_subdirectory(SOURCE_DIR).
set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("$ ${ARGN}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "subdir")
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${build} -G ${GENERATOR}
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_C_COMPILER=${CC}
      -DUEPOLL_SOURCE_DIR=${SOURCE_DIR})
  run(${CMAKE_COMMAND} --build ${build} -j2)
  if(EXISTS ${build}/uepoll/tests OR EXISTS ${build}/uepoll/bench)
    message(FATAL_ERROR "uepoll's tests or benchmarks were built as a subproject")
  endif()
  foreach(program consumer_shared consumer_static consumer_c)
    run(${build}/${program})
  endforeach()
  return()
endif()

set(config_arg)
if(CONFIG)
  set(config_arg --config ${CONFIG})
endif()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} ${config_arg})

foreach(f lib/cmake/uepoll/uepollConfig.cmake lib/cmake/uepoll/uepollConfigVersion.cmake
          lib/pkgconfig/uepoll.pc lib/pkgconfig/uepoll-static.pc include/uepoll/uepoll.h
          include/uepoll/file.hpp include/uepoll/channel.hpp lib/libuepoll.a
          share/man/man7/uepoll.7 share/man/man3/uep_close.3)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB sonames ${prefix}/lib/libuepoll.so.*)
if(NOT sonames)
  message(FATAL_ERROR "not installed: lib/libuepoll.so.<version>")
endif()

# Only the fresh prefix is searched: no package registry, no system uepoll.
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${build} -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_C_COMPILER=${CC}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
run(${CMAKE_COMMAND} --build ${build})

file(GLOB programs ${build}/consumer_*)
list(LENGTH programs count)
if(count LESS 3)
  message(FATAL_ERROR "expected at least 3 consumer programs, found: ${programs}")
endif()
foreach(program ${programs})
  if(NOT IS_DIRECTORY ${program})
    run(${program})
  endif()
endforeach()

# A consumer that sets no C++ standard: the target's cxx_std_20 raises it.
run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/cxx_default -B ${build}-cxx-default -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
run(${CMAKE_COMMAND} --build ${build}-cxx-default)
run(${build}-cxx-default/consumer_cxx_default)

# The compiler alone, at its default standard, through pkg-config's flags: below C++20,
# uepoll.hpp stops with one clear error (not the first concept's).
function(pkg_config out)
  execute_process(COMMAND ${PKG_CONFIG} ${ARGN} OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(${out} ${flags} PARENT_SCOPE)
endfunction()
if(PKG_CONFIG)
  set(direct ${WORK_DIR}/direct)
  file(MAKE_DIRECTORY ${direct})
  pkg_config(cflags --cflags uepoll)
  file(WRITE ${direct}/std.cc "static_assert(__cplusplus >= 202002L);\n")
  execute_process(COMMAND ${CXX} -fsyntax-only ${direct}/std.cc RESULT_VARIABLE default_is_20
                  OUTPUT_QUIET ERROR_QUIET)
  file(WRITE ${direct}/hpp.cc "#include <uepoll/uepoll.hpp>\nint main() { return uep::Epoll::create() ? 0 : 1; }\n")
  execute_process(COMMAND ${CXX} ${cflags} -fsyntax-only ${direct}/hpp.cc
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("$ ${CXX} <uepoll cflags> -fsyntax-only hpp.cc (the compiler's default standard)\n${err}")
  if(default_is_20 EQUAL 0)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "the compiler defaults to C++20 but main.cc did not compile")
    endif()
  else()
    # Its #error first; then only the use of what it left out, never its own internals.
    string(REGEX MATCH "error: [^\n]*" first "${err}")
    if(rc EQUAL 0 OR NOT first MATCHES "uepoll.hpp needs C\\+\\+20" OR err MATCHES "concept")
      message(FATAL_ERROR "below C++20 uepoll.hpp must stop with its own #error first")
    endif()
  endif()

  # pkg-config, shared: the program needs the prefix's lib directory at run time (rpath or
  # LD_LIBRARY_PATH); static (uepoll-static, or --static with -static): it does not.
  pkg_config(shared --cflags --libs uepoll)
  pkg_config(libdir --variable=libdir uepoll)
  run(${CC} ${CONSUMER_DIR}/main.c ${shared} -Wl,-rpath,${libdir} -o ${direct}/pc_shared)
  run(${direct}/pc_shared)
  pkg_config(archive --cflags --libs uepoll-static)
  run(${CC} ${CONSUMER_DIR}/main.c ${archive} -o ${direct}/pc_static)
  run(${direct}/pc_static)
  pkg_config(full_static --static --cflags --libs uepoll)
  run(${CC} -static ${CONSUMER_DIR}/main.c ${full_static} -o ${direct}/pc_full_static)
  run(${direct}/pc_full_static)
  foreach(program pc_static pc_full_static)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_TRACE_LOADED_OBJECTS=1 ${direct}/${program}
                    OUTPUT_VARIABLE deps ERROR_QUIET)
    if(deps MATCHES "libuepoll")
      message(FATAL_ERROR "${program} needs libuepoll.so:\n${deps}")
    endif()
  endforeach()
endif()

# The installed command: its version is the project's, `demo` runs, `trace` runs a
# scenario and a program under the preload library installed beside it.
if(NOT TOOLS)
  return()
endif()
if(NOT EXISTS ${prefix}/share/man/man1/uepoll.1)
  message(FATAL_ERROR "not installed: share/man/man1/uepoll.1")
endif()
run(${prefix}/bin/uepoll --version)
if(NOT out MATCHES "^uepoll ${VERSION}\n$")
  message(FATAL_ERROR "uepoll --version: expected 'uepoll ${VERSION}'")
endif()
run(${prefix}/bin/uepoll trace --help)
run(${prefix}/bin/uepoll trace oneshot)
if(NOT out MATCHES "# [0-9]+ records")
  message(FATAL_ERROR "uepoll trace oneshot: no timeline")
endif()
run(${CMAKE_COMMAND} -E env --unset=UEPOLL_PRELOAD_LIB ${prefix}/bin/uepoll trace --
    ${CMAKE_COMMAND} -E true)
if(NOT out MATCHES "# preload library: ${prefix}/")
  message(FATAL_ERROR "uepoll trace did not take the preload library installed with it")
endif()
run(${prefix}/bin/uepoll demo)
