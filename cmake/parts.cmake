# The parts of the library (docs/architecture.md), one OBJECT library per folder of src/,
# combined into `uepoll` (libuepoll.a), `uepoll_shared` (libuepoll.so) and the preload
# library. A part's DEPENDS are the arrows it may follow, and the only folders it can
# include from: each part compiles against its own include root in the build tree, holding
# links to its folder and to those of its DEPENDS (and include/uepoll with PUBLIC_API), so an
# #include of any other part fails to compile. (The tests are white-box: they see src/.)
#
#   platform   the OS: futex, clocks, raw system calls, /proc/sys, membarrier, io_uring
#   trace      trace/record.h only: the trace's record format, written by the core and read
#              by the preload library and `uepoll trace` (no code)
#   core       the machine: wait queues, poll tables, files, the descriptor table, RCU, the
#              eventpoll instance; the kernel bridge only through core/kernel_bridge.h
#   kernel     the kernel bridge: kernel descriptors in an instance (core/kernel_bridge.h)
#   files      the file types
#   capi       the uep_* entry points and the poll engine
#   api        the C++ facade for user file types (include/uepoll/file.hpp) over the core
#   preload    libuepoll-preload.so's interposers (src/preload/CMakeLists.txt), over the
#              public C API and capi/preload_support.h only
set(UEPOLL_PARTS_ROOT ${PROJECT_BINARY_DIR}/parts)

# The include root of `target`: links to src/<dir> for each of `dirs`, to single headers
# src/<file> for each of `files` (a part's narrow interface to another), and to
# include/uepoll with PUBLIC_API.
function(uepoll_part_root target name)
  cmake_parse_arguments(PARSE_ARGV 2 arg "PUBLIC_API" "" "DIRS;FILES")
  set(root ${UEPOLL_PARTS_ROOT}/${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root})
  foreach(dir ${arg_DIRS})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${dir} ${root}/${dir} SYMBOLIC)
  endforeach()
  foreach(header ${arg_FILES})
    get_filename_component(dir ${header} DIRECTORY)
    file(MAKE_DIRECTORY ${root}/${dir})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${header} ${root}/${header} SYMBOLIC)
  endforeach()
  if(arg_PUBLIC_API)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/uepoll ${root}/uepoll SYMBOLIC)
  endif()
  target_include_directories(${target} PRIVATE ${root})
endfunction()

# uepoll_part(<name> [PUBLIC_API] [DEPENDS <part>...]): uepoll_<name> from src/<name>/*.cc.
function(uepoll_part name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "PUBLIC_API" "" "DEPENDS")
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cc)
  add_library(uepoll_${name} OBJECT ${sources})
  set(api "")
  if(arg_PUBLIC_API)
    set(api PUBLIC_API)
  endif()
  uepoll_part_root(uepoll_${name} ${name} ${api} DIRS ${name} ${arg_DEPENDS})
  foreach(dep ${arg_DEPENDS})
    if(TARGET uepoll_${dep})
      target_link_libraries(uepoll_${name} PRIVATE uepoll_${dep})
    endif()
  endforeach()
  target_compile_options(uepoll_${name} PRIVATE ${UEPOLL_WARNINGS})
  target_compile_features(uepoll_${name} PRIVATE cxx_std_20)
  if(NOT UEPOLL_TRACE_POINTS)
    target_compile_definitions(uepoll_${name} PRIVATE UEPOLL_TRACE_POINTS=0)
  endif()
  if(UEPOLL_FAULT_INJECTION)
    target_compile_definitions(uepoll_${name} PRIVATE UEPOLL_FAULT_INJECTION=1)
  endif()
endfunction()

# The arrows. (trace is a header: no library of its own.)
uepoll_part(platform)
uepoll_part(core DEPENDS platform trace)
uepoll_part(kernel DEPENDS core platform trace)
uepoll_part(files DEPENDS core platform)
uepoll_part(capi PUBLIC_API DEPENDS core files kernel platform trace)
uepoll_part(api PUBLIC_API DEPENDS core platform)

# Every part's objects, for the libraries built from them (in the order the sources were
# listed before there were parts: static initialisers run in link order).
set(UEPOLL_OBJECTS "")
foreach(part core kernel files capi platform api)
  list(APPEND UEPOLL_OBJECTS $<TARGET_OBJECTS:uepoll_${part}>)
endforeach()
