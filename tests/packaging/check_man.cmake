# Renders one man page with groff and fails on any warning or error.
#   cmake -DGROFF=/usr/bin/groff -DPAGE=docs/man/uep_poll.3 -P check_man.cmake
execute_process(COMMAND ${GROFF} -man -Tutf8 -ww -z ${PAGE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err STREQUAL "")
  message(FATAL_ERROR "groff on ${PAGE} (exit ${rc}):\n${err}")
endif()
# The page must have the sections every page of the C API has.
file(READ ${PAGE} text)
foreach(section NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS NOTES "SEE ALSO")
  string(FIND "${text}" ".SH ${section}" at)
  if(at EQUAL -1)
    string(FIND "${text}" ".SH \"${section}\"" at)
  endif()
  if(at EQUAL -1)
    message(FATAL_ERROR "${PAGE}: no ${section} section")
  endif()
endforeach()
