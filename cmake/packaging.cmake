# Packaging (included from the root CMakeLists.txt once the `uepoll` target exists).
#
#   libuepoll.a                 the `uepoll` target (what the tests link), exported as
#                               uepoll::uepoll_static
#   libuepoll.so.<SOVERSION>    `uepoll_shared`, built from the same objects (the parts':
#                               UEPOLL_OBJECTS, cmake/parts.cmake), exported as
#                               uepoll::uepoll_shared; VERSION/SOVERSION from project()
#   uepoll::uepoll              for find_package() users: the shared library (or the static
#                               one with -DUEPOLL_USE_STATIC=ON, or if only it is installed);
#                               for add_subdirectory()/FetchContent users: the static one
#   lib/cmake/uepoll/           uepollConfig.cmake, uepollConfigVersion.cmake, targets
#   lib/pkgconfig/uepoll.pc     pkg-config: the shared library (with -static, --static gives
#                               the archive's dependencies); uepoll-static.pc: the archive
#   bin/uepoll                  the command (root CMakeLists.txt), linked with the archive
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Where an installed `uepoll` command finds libuepoll-preload.so, relative to its own
# directory, so that an installed tree can be moved (tools/trace_cmd.cc).
file(RELATIVE_PATH UEPOLL_PRELOAD_FROM_BINDIR ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_FULL_LIBDIR}/libuepoll-preload.so)

# 0.x releases may break the ABI with every minor version; from 1.0 on, only majors do.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(UEPOLL_SOVERSION "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}")
else()
  set(UEPOLL_SOVERSION "${PROJECT_VERSION_MAJOR}")
endif()

option(UEPOLL_BUILD_SHARED "Also build libuepoll.so (from the static library's objects)" ON)

set_target_properties(uepoll PROPERTIES EXPORT_NAME uepoll_static OUTPUT_NAME uepoll)
set(UEPOLL_INSTALL_TARGETS uepoll)
if(UEPOLL_BUILD_SHARED)
  add_library(uepoll_shared SHARED ${UEPOLL_OBJECTS})
  add_library(uepoll::uepoll_shared ALIAS uepoll_shared)
  set_target_properties(uepoll_shared PROPERTIES
    OUTPUT_NAME uepoll EXPORT_NAME uepoll_shared
    VERSION ${PROJECT_VERSION} SOVERSION ${UEPOLL_SOVERSION})
  target_include_directories(uepoll_shared
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(uepoll_shared PUBLIC Threads::Threads)
  target_compile_features(uepoll_shared PUBLIC cxx_std_20)
  if(UEPOLL_LIBURING_LIBS)  # linked in, not exported
    target_link_libraries(uepoll_shared PRIVATE ${UEPOLL_LIBURING_LIBS})
    target_link_options(uepoll_shared PRIVATE -Wl,--exclude-libs,ALL)
  endif()
  list(APPEND UEPOLL_INSTALL_TARGETS uepoll_shared)
endif()
add_library(uepoll::uepoll_static ALIAS uepoll)

if(UEPOLL_INSTALL)
  install(TARGETS ${UEPOLL_INSTALL_TARGETS} EXPORT uepollTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/uepoll
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
  install(EXPORT uepollTargets NAMESPACE uepoll::
    FILE uepollTargets.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uepoll)

  configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/uepollConfig.cmake.in
    ${PROJECT_BINARY_DIR}/uepollConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uepoll)
  # 0.x: only the same minor version is compatible (SameMinorVersion); later SameMajorVersion.
  if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(UEPOLL_COMPAT SameMinorVersion)
  else()
    set(UEPOLL_COMPAT SameMajorVersion)
  endif()
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/uepollConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY ${UEPOLL_COMPAT})
  install(FILES ${PROJECT_BINARY_DIR}/uepollConfig.cmake ${PROJECT_BINARY_DIR}/uepollConfigVersion.cmake
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uepoll)

  # pkg-config: relocatable (prefix found from the .pc file's own place, ${pcfiledir}), so
  # that `cmake --install --prefix <elsewhere>` yields a working uepoll.pc.
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(UEPOLL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  else()
    set(UEPOLL_PC_PREFIX "\${pcfiledir}/..")
    string(REPLACE "/" ";" libdir_parts "${CMAKE_INSTALL_LIBDIR}")
    foreach(part ${libdir_parts})
      string(APPEND UEPOLL_PC_PREFIX "/..")
    endforeach()
  endif()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(UEPOLL_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
  else()
    set(UEPOLL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  endif()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(UEPOLL_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(UEPOLL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
  set(UEPOLL_PC_PRIVATE_LIBS "")
  if(UEPOLL_LIBURING_LIBS)
    set(UEPOLL_PC_PRIVATE_LIBS " -luring")
  endif()
  # uepoll.pc links -luepoll, which the linker takes as libuepoll.so when both are installed
  # (`pkg-config --static` adds the private libraries but cannot change that);
  # uepoll-static.pc names the archive itself.
  configure_file(${CMAKE_CURRENT_LIST_DIR}/uepoll.pc.in ${PROJECT_BINARY_DIR}/uepoll.pc @ONLY)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/uepoll-static.pc.in ${PROJECT_BINARY_DIR}/uepoll-static.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/uepoll.pc ${PROJECT_BINARY_DIR}/uepoll-static.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

  # Manual pages: the C API (3), the command (1), the overview (7).
  foreach(section 1 3 7)
    file(GLOB pages ${PROJECT_SOURCE_DIR}/docs/man/*.${section})
    install(FILES ${pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
endif()
