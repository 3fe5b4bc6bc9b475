# pel_add_library(NAME SOURCES... DEPS ...): one library target per layer folder.
function(pel_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/pel>)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} $<BUILD_INTERFACE:pel_build_flags>)
endfunction()

# pel_add_test(NAME SOURCES... LIBS ... [LABELS L]): a GoogleTest binary registered with ctest.
function(pel_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main pel_build_flags)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # gtest_discover_tests writes the properties out as one flat list, so a second label would
  # become a property name of its own and be lost: one label here, the folder's in its
  # directory property LABELS (ctest adds those to every test of the folder).
  list(LENGTH ARG_LABELS label_count)
  if(label_count GREATER 1)
    message(FATAL_ERROR "pel_add_test(${name}): one label (a folder's labels go in its LABELS directory property)")
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

# pel_add_microbench(NAME SOURCES... LIBS ...): a Google Benchmark binary, plus a one-iteration
# ctest smoke run so it cannot rot.
function(pel_add_microbench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} benchmark::benchmark pel_build_flags)
  if(TARGET mimalloc)
    target_link_libraries(${name} PRIVATE mimalloc)  # the allocator pel runs with
  endif()
  if(PEL_BUILD_TESTS)
    add_test(NAME ${name}_smoke COMMAND ${name} --benchmark_min_time=0 --benchmark_repetitions=1)
    set_tests_properties(${name}_smoke PROPERTIES LABELS "bench;smoke" TIMEOUT 300)
  endif()
endfunction()

# pel_export_library(TARGET NAME): installs a layer library as pel::NAME for find_package(pel).
function(pel_export_library target name)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  add_library(pel::${name} ALIAS ${target})
  install(TARGETS ${target} EXPORT pelTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()
