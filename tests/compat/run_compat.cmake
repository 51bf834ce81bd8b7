# Driver for the compat tests (see CMakeLists.txt): cmake -DMODE=... -P run_compat.cmake
#   MODE=run            PROG must exit 0 and print "all checks passed"
#   MODE=compare        KERNEL and UEPOLL must both pass and print identical output
#   MODE=no_kernel_fds  UEPOLL must pass and KERNEL must fail (both run with RLIMIT_NOFILE 3)

function(run_prog out_var rc_var)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  TIMEOUT 100)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
  if(err)
    message("stderr of ${ARGN}:\n${err}")
  endif()
endfunction()

function(expect_pass name out rc)
  if(NOT rc STREQUAL "0" OR NOT out MATCHES "all checks passed\n$")
    message(FATAL_ERROR "${name}: exit code ${rc}, output:\n${out}")
  endif()
endfunction()

if(MODE STREQUAL "run")
  run_prog(out rc ${PROG})
  message("${out}")
  expect_pass(${PROG} "${out}" "${rc}")
elseif(MODE STREQUAL "compare")
  run_prog(kout krc ${KERNEL})
  run_prog(uout urc ${UEPOLL})
  expect_pass(kernel "${kout}" "${krc}")
  expect_pass(uepoll "${uout}" "${urc}")
  if(NOT kout STREQUAL uout)
    file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/compat_kernel.out "${kout}")
    file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/compat_uepoll.out "${uout}")
    message(FATAL_ERROR "outputs differ; see compat_kernel.out and compat_uepoll.out in "
                        "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  message("kernel and uepoll builds printed the same output:\n${uout}")
elseif(MODE STREQUAL "no_kernel_fds")
  # Both are linked with nofile_limit.c: RLIMIT_NOFILE is 3 from before main() on.
  run_prog(uout urc ${UEPOLL})
  expect_pass("uepoll build with RLIMIT_NOFILE=3" "${uout}" "${urc}")
  run_prog(kout krc ${KERNEL})
  if(krc STREQUAL "0")
    message(FATAL_ERROR "the kernel build passed with RLIMIT_NOFILE=3: the check proves nothing")
  endif()
  message("with RLIMIT_NOFILE=3 the uepoll build passes and the kernel build fails "
          "(exit ${krc}): the program's descriptors are uepoll's")
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
