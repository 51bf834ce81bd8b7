# The parts' arrows hold in the build (docs/architecture.md): with the compile command the
# build uses for a real translation unit of a part, a scratch copy of that unit with one
# forbidden #include added first must fail to compile on that include, and the untouched
# unit must compile.
#
# cmake -DCOMPILE_COMMANDS=<build>/compile_commands.json -DSOURCE_DIR=<src tree>
#       -DSCRATCH=<dir> -P check_parts.cmake
cmake_minimum_required(VERSION 3.22)

file(READ ${COMPILE_COMMANDS} db)
string(JSON count LENGTH "${db}")
math(EXPR last "${count} - 1")

# The build's command for `file` (relative to SOURCE_DIR), as a list, compiling `source`
# with -fsyntax-only (no object, no depfile, no ccache).
function(command_for file source out)
  foreach(i RANGE ${last})
    string(JSON f GET "${db}" ${i} file)
    if(f STREQUAL "${SOURCE_DIR}/${file}")
      string(JSON cmd GET "${db}" ${i} command)
      separate_arguments(args UNIX_COMMAND "${cmd}")
      set(result "")
      set(skip FALSE)
      foreach(arg ${args})
        if(skip)
          set(skip FALSE)
        elseif(arg MATCHES "^(-o|-c|-MF|-MT)$")
          set(skip TRUE)
        elseif(arg STREQUAL "-MD" OR arg MATCHES "(^|/)ccache$")
        else()
          list(APPEND result "${arg}")
        endif()
      endforeach()
      list(APPEND result -fsyntax-only ${source})
      set(${out} "${result}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "${file} is not in ${COMPILE_COMMANDS}")
endfunction()

file(MAKE_DIRECTORY ${SCRATCH})
set(failures 0)

# The untouched unit compiles.
command_for(src/core/wait_queue.cc ${SOURCE_DIR}/src/core/wait_queue.cc cmd)
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(SEND_ERROR "src/core/wait_queue.cc does not compile as the build compiles it:\n${err}")
  math(EXPR failures "${failures} + 1")
endif()

# <unit>|<forbidden header>: the part of <unit> must not include <header>.
set(forbidden
  src/core/wait_queue.cc|files/pipe.h
  src/core/wait_queue.cc|capi/capi.h
  src/core/wait_queue.cc|kernel/kernel_side.h
  src/core/wait_queue.cc|preload/preload.h
  src/platform/futex.cc|core/file.h
  src/files/fasync.cc|capi/capi.h
  src/files/fasync.cc|kernel/kernel_side.h
  src/kernel/kernel_side.cc|files/pipe.h
  src/kernel/kernel_side.cc|capi/capi.h
  src/capi/eventfd.cc|preload/preload.h
  src/api/file.cc|files/eventfd.h
  src/api/file.cc|capi/capi.h
  tools/trace_render.cc|core/trace.h
  tools/trace_render.cc|core/eventpoll.h
  src/preload/io.cc|core/fd_table.h
  src/preload/vfork.cc|core/fork.h
  src/preload/stale.cc|core/waiter.h
  src/preload/syscall.cc|capi/capi.h
  src/preload/init.cc|trace/record.h
  src/preload/io.cc|files/pipe.h
  src/preload/io.cc|platform/futex.h
  src/preload/io.cc|kernel/kernel_side.h
)
foreach(pair ${forbidden})
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 unit)
  list(GET pair 1 header)
  get_filename_component(name ${unit} NAME)
  string(MAKE_C_IDENTIFIER "${header}" tag)
  string(REPLACE "." "[.]" header_re "${header}")  # gcc: "h: No such file", clang: "'h' file not found"
  set(copy ${SCRATCH}/${tag}_${name})
  file(READ ${SOURCE_DIR}/${unit} text)
  file(WRITE ${copy} "#include \"${header}\"\n${text}")
  command_for(${unit} ${copy} cmd)
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(SEND_ERROR "${unit} with #include \"${header}\" compiles: the arrow is not enforced")
    math(EXPR failures "${failures} + 1")
  elseif(NOT err MATCHES "${header_re}: No such file" AND NOT err MATCHES "'${header_re}' file not found")
    message(SEND_ERROR "${unit} with #include \"${header}\" fails, but not on that include:\n${err}")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "refused: ${unit} -> ${header}")
  endif()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} structure check(s) failed")
endif()
