# SPQR epoch advance (docs/SPQR.md): driver_spqr.js reads the pq_ratchet epoch of every
# message both ways and needs at least 3 advances on each side, each side initiating.
# Included from CMakeLists.txt after NODE, INTEROP_DIR and INTEROP_TESTS are set.
#   interop/spqr-self             libsignal against itself (proves the driver): 300 ping-pong
#                                 round trips and the lossy case (10% dropped, the rest shuffled
#                                 in blocks of 20, every arriving message must decrypt)
#   interop/spqr-sotto-libsignal  the same with sotto-peer against libsignal 0.103 (sessions carry
#                                 the ML-KEM braid of src/protocol/spqr_braid.c)
#   interop/spqr-sotto-valgrind   sotto-peer under valgrind memcheck, lossy case, 120 round trips
#                                 (2 advances); label memcheck only (slow)
set(SPQR_LIBSIGNAL "\"${NODE}\" \"${INTEROP_DIR}/peer.js\"")
set(SPQR_DRIVER ${NODE} ${INTEROP_DIR}/driver_spqr.js)

add_test(NAME interop/spqr-self
  COMMAND ${SPQR_DRIVER} --a ${SPQR_LIBSIGNAL} --b ${SPQR_LIBSIGNAL})
list(APPEND INTEROP_TESTS interop/spqr-self)

if(TARGET sotto-peer)
  add_test(NAME interop/spqr-sotto-libsignal
    COMMAND ${SPQR_DRIVER} --a "\"$<TARGET_FILE:sotto-peer>\"" --b ${SPQR_LIBSIGNAL})
  list(APPEND INTEROP_TESTS interop/spqr-sotto-libsignal)
  find_program(VALGRIND valgrind)
  if(VALGRIND AND NOT SOTTO_SANITIZE)
    add_test(NAME interop/spqr-sotto-valgrind
      COMMAND ${SPQR_DRIVER}
        --a "\"${VALGRIND}\" -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \"$<TARGET_FILE:sotto-peer>\""
        --b ${SPQR_LIBSIGNAL} --case lossy --round-trips 120 --min-advances 2)
    set_tests_properties(interop/spqr-sotto-valgrind PROPERTIES LABELS memcheck TIMEOUT 600)
  endif()
endif()
