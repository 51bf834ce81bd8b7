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
          lib/pkgconfig/uepoll.pc include/uepoll/uepoll.h include/uepoll/file.hpp
          include/uepoll/channel.hpp lib/libuepoll.a)
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
