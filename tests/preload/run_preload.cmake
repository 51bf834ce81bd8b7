# Driver for the preload tests (see CMakeLists.txt): cmake -DMODE=... -P run_preload.cmake
#   MODE=compare  PROG runs on the kernel and under LD_PRELOAD=LIB, with PRINT_FD_NUMBERS=1:
#                 both pass ("all checks passed"), print identical output (descriptor
#                 numbers included), and the preload run's kernel table (the program's
#                 describe_kernel_fds() on stderr) holds no eventfd, epoll, timerfd or
#                 pipe of the kernel but uepoll's placeholders ("/") where the kernel run
#                 had them (TAKEOVER_KINDS: the regex of those kernel objects).
#                 NUMBERS=OFF: descriptor numbers are not printed (sanitizer builds).
#                 EXTRA_ENV (optional) is added to the preload run's environment.
#                 TAKEOVER=OFF: the program's descriptors are all the kernel's (no check).
#   MODE=compat   PROG on the kernel and COMPAT_PROG (built with compat.h) under
#                 UEPOLL_NUMBERING=kernel, both with EXTRA_ENV: same output.
#   MODE=both     PROG passes on the kernel and under LD_PRELOAD, its first line being
#                 EXPECT_KERNEL and EXPECT_PRELOAD (behaviour differs by design).
#   MODE=shell    /bin/sh runs a pipeline, $(...) and a here-document under LD_PRELOAD=LIB
#                 with the default kinds (UEPOLL_PRELOAD unset): same output as without.
#   MODE=kinds    PROG (kinds.c) without LD_PRELOAD prints every kind "kernel"; under it
#                 with UEPOLL_PRELOAD=SETTING (unset if empty) the holders listed in EXPECT
#                 (epoll;eventfd;pipe;socketpair;timerfd).

function(run_prog out_var err_var rc_var)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  TIMEOUT 100)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

function(expect_pass name out err rc)
  if(NOT rc STREQUAL "0" OR NOT out MATCHES "all checks passed\n$")
    message(FATAL_ERROR "${name}: exit code ${rc}, output:\n${out}\nstderr:\n${err}")
  endif()
endfunction()

separate_arguments(EXTRA_ENV)
set(print_numbers PRINT_FD_NUMBERS=1)
if(NUMBERS STREQUAL "OFF")
  set(print_numbers PRINT_FD_NUMBERS=0)
endif()
separate_arguments(ARGS)
if(MODE STREQUAL "compare")
  run_prog(kout kerr krc ${CMAKE_COMMAND} -E env ${print_numbers} ${PROG} ${ARGS})
  run_prog(pout perr prc ${CMAKE_COMMAND} -E env ${print_numbers} LD_PRELOAD=${LIB} ${EXTRA_ENV}
           ${PROG} ${ARGS})
  expect_pass("kernel run" "${kout}" "${kerr}" "${krc}")
  expect_pass("preload run" "${pout}" "${perr}" "${prc}")
  if(NOT kout STREQUAL pout)
    message(FATAL_ERROR "outputs differ\n--- kernel:\n${kout}\n--- preload:\n${pout}")
  endif()
  if(TAKEOVER STREQUAL "OFF")
    message("kernel and preload runs printed the same output:\n${pout}")
    return()
  endif()
  if(NOT kerr MATCHES "kernel fd [0-9]+: (${TAKEOVER_KINDS})")
    message(FATAL_ERROR "the kernel run shows no eventfd/epoll/timerfd/pipe: the check proves nothing\n${kerr}")
  endif()
  if(perr MATCHES "kernel fd [0-9]+: (${TAKEOVER_KINDS})"
     OR NOT perr MATCHES "kernel fd [0-9]+: /\n")
    message(FATAL_ERROR "the preload run still has kernel objects (or no placeholders):\n${perr}")
  endif()
  message("kernel and preload runs printed the same output:\n${pout}")
elseif(MODE STREQUAL "compat")
  # PROG on the kernel and COMPAT_PROG (the same source built with compat.h, linked with
  # libuepoll.so) under kernel numbering, both with EXTRA_ENV: same output.
  run_prog(kout kerr krc ${CMAKE_COMMAND} -E env ${print_numbers} ${EXTRA_ENV} ${PROG})
  run_prog(cout cerr crc ${CMAKE_COMMAND} -E env ${print_numbers} UEPOLL_NUMBERING=kernel ${EXTRA_ENV}
           ${COMPAT_PROG})
  expect_pass("kernel run" "${kout}" "${kerr}" "${krc}")
  expect_pass("compat run" "${cout}" "${cerr}" "${crc}")
  if(NOT kout STREQUAL cout)
    message(FATAL_ERROR "outputs differ\n--- kernel:\n${kout}\n--- compat:\n${cout}")
  endif()
  message("kernel and compat runs printed the same output:\n${cout}")
elseif(MODE STREQUAL "both")
  run_prog(kout kerr krc ${PROG})
  run_prog(pout perr prc ${CMAKE_COMMAND} -E env LD_PRELOAD=${LIB} ${EXTRA_ENV} ${PROG})
  expect_pass("kernel run" "${kout}" "${kerr}" "${krc}")
  expect_pass("preload run" "${pout}" "${perr}" "${prc}")
  string(FIND "${kout}" "${EXPECT_KERNEL}\n" kat)
  string(FIND "${pout}" "${EXPECT_PRELOAD}\n" pat)
  if(NOT kat EQUAL 0 OR NOT pat EQUAL 0)
    message(FATAL_ERROR "unexpected first lines:\n--- kernel:\n${kout}\n--- preload:\n${pout}")
  endif()
  message("--- kernel:\n${kout}\n--- preload:\n${pout}\n${perr}")
elseif(MODE STREQUAL "shell")
  # Newlines, not semicolons: a semicolon would split the CMake string into a list.
  set(script "echo one | tr a-z A-Z\nx=$(echo two | cat)\necho \"$x\"\ncat <<END\nthree\nEND\n")
  run_prog(kout kerr krc /bin/sh -c "${script}")
  run_prog(pout perr prc ${CMAKE_COMMAND} -E env --unset=UEPOLL_PRELOAD LD_PRELOAD=${LIB} /bin/sh -c "${script}")
  if(NOT krc STREQUAL "0" OR NOT kout STREQUAL "ONE\ntwo\nthree\n")
    message(FATAL_ERROR "the script fails without the library: ${kout}${kerr}")
  endif()
  if(NOT prc STREQUAL "0" OR NOT pout STREQUAL kout OR NOT perr STREQUAL "")
    message(FATAL_ERROR "under the library (default kinds): exit ${prc}\n${pout}${perr}")
  endif()
  message("${pout}")
elseif(MODE STREQUAL "kinds")
  set(names epoll eventfd pipe socketpair timerfd)
  run_prog(kout kerr krc ${PROG})
  if(SETTING STREQUAL "")
    run_prog(pout perr prc ${CMAKE_COMMAND} -E env --unset=UEPOLL_PRELOAD LD_PRELOAD=${LIB} ${PROG})
  else()
    run_prog(pout perr prc ${CMAKE_COMMAND} -E env UEPOLL_PRELOAD=${SETTING} LD_PRELOAD=${LIB} ${PROG})
  endif()
  set(kexp "")
  set(pexp "")
  foreach(name holder IN ZIP_LISTS names EXPECT)
    string(APPEND kexp "${name} kernel\n")
    string(APPEND pexp "${name} ${holder}\n")
  endforeach()
  if(NOT krc STREQUAL "0" OR NOT kout STREQUAL kexp)
    message(FATAL_ERROR "without the preload library:\n${kout}${kerr}")
  endif()
  if(NOT prc STREQUAL "0" OR NOT pout STREQUAL pexp)
    message(FATAL_ERROR "UEPOLL_PRELOAD='${SETTING}': expected\n${pexp}got\n${pout}${perr}")
  endif()
  message("UEPOLL_PRELOAD='${SETTING}':\n${pout}")
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
