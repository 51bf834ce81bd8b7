# `uepoll trace -- <program>` on trace_target.c: cmake -DTOOL=... -DPROG=... -DLIB=...
# -DOUT=<dir> -P check_trace.cmake. The tool must exit with the program's status (0), print
# a timeline, write the SVG, HTML and JSON files, and the JSON records must hold, in this
# order: the queue procedure hanging the hook (register), the eventfd's wake-up (wake),
# the callback linking the item (callback, y = 0 "linked"), the transfer (transfer_begin),
# the item reported and left off the list (transfer_item, y = 1 "reported, edge-triggered")
# and the end of the transfer with one event (transfer_end, x = 1).
file(MAKE_DIRECTORY ${OUT})
if(MODE STREQUAL "kernel")
  # An instance holding only a kernel socket pair: the kernel side's sleep (timed out),
  # then its ask returning the byte, are records of their own, counted in the summary.
  execute_process(COMMAND ${CMAKE_COMMAND} -E env UEPOLL_PRELOAD_LIB=${LIB}
                          ${TOOL} trace --json ${OUT}/k.json -- ${PROG} kernel
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  message("${out}${err}")
  if(NOT rc STREQUAL "0" OR NOT out MATCHES "idle wait 0, ready wait 1 \\(data 9\\)")
    message(FATAL_ERROR "uepoll trace exited with ${rc}, or the program's output is missing")
  endif()
  if(NOT out MATCHES "sleeps in the kernel on epoll#1's hidden instance"
     OR NOT out MATCHES "wakes up in the kernel: timed out"
     OR NOT out MATCHES "# kernel side: [0-9]+ harvests? \\([01] events?\\), [0-9]+ sleeps? \\(")
    message(FATAL_ERROR "the kernel side's activity is not in the timeline or the summary")
  endif()
  # The byte came back once, by an ask or by a sleep's end.
  file(STRINGS ${OUT}/k.json lines)
  set(delivered 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "\"kind\":\"kernel_harvest\".*\"y\":1," OR
       line MATCHES "\"kind\":\"kernel_sleep_end\".*\"x\":1,")
      math(EXPR delivered "${delivered} + 1")
    endif()
  endforeach()
  if(NOT delivered EQUAL 1)
    message(FATAL_ERROR "the kernel side returned the byte ${delivered} times in the JSON records, not once")
  endif()
  return()
endif()
if(MODE STREQUAL "children")
  # The parent makes no uepoll descriptor; its forked child runs the path. The child's
  # trace must be listed, with the callback that linked its item, and no hint that nothing
  # went through uepoll.
  execute_process(COMMAND ${CMAKE_COMMAND} -E env UEPOLL_PRELOAD_LIB=${LIB} ${TOOL} trace -- ${PROG} fork
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  message("${out}${err}")
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "uepoll trace exited with ${rc}")
  endif()
  if(NOT out MATCHES "# child process [0-9]+:\n# [0-9]+ records; by kind: [^\n]*callback 1"
     OR NOT out MATCHES "# callback decisions: linked 1" OR out MATCHES "no event went through")
    message(FATAL_ERROR "the child's trace is not listed")
  endif()
  return()
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env UEPOLL_PRELOAD_LIB=${LIB}
                        ${TOOL} trace --svg ${OUT}/t.svg --html ${OUT}/t.html --json ${OUT}/t.json
                        -- ${PROG}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "uepoll trace exited with ${rc}")
endif()
if(NOT out MATCHES "first wait 1 \\(data 7\\), second wait 0" OR NOT out MATCHES "# uepoll trace --")
  message(FATAL_ERROR "the program's output or the timeline is missing")
endif()
file(READ ${OUT}/t.svg svg)
file(READ ${OUT}/t.html html)
if(NOT svg MATCHES "<svg" OR NOT html MATCHES "<svg")
  message(FATAL_ERROR "no picture written")
endif()
file(STRINGS ${OUT}/t.json lines)
set(want
  "\"kind\":\"register\""
  "\"kind\":\"wake\""
  "\"kind\":\"callback\".*\"y\":0,"
  "\"kind\":\"transfer_begin\""
  "\"kind\":\"transfer_item\".*\"y\":1,"
  "\"kind\":\"transfer_end\".*\"x\":1,")
list(LENGTH want nwant)
set(i 0)
foreach(line IN LISTS lines)
  if(i LESS nwant)
    list(GET want ${i} pattern)
    if(line MATCHES "${pattern}")
      math(EXPR i "${i} + 1")
    endif()
  endif()
endforeach()
if(NOT i EQUAL nwant)
  list(GET want ${i} missing)
  message(FATAL_ERROR "the trace lacks, in order, the record matching ${missing}")
endif()
message("the trace shows register -> wake -> callback (linked) -> transfer -> reported (ET)")
