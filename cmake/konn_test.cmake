# konn_unit_test(NAME SOURCE LIBS...): one cmocka test executable, registered with CTest.
function(konn_unit_test name source)
    add_executable(${name} ${source})
    target_link_libraries(${name} PRIVATE ${ARGN} PkgConfig::CMOCKA)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME unit.${name} COMMAND ${name})
    set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120
        ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endfunction()
