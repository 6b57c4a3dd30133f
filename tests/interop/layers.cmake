# Message layers (docs/PEER-LAYERS.md): driver_layers.js pairs sotto-peer with the
# libsignal layers peer (peer_layers.js). Included from CMakeLists.txt after NODE,
# INTEROP_DIR and INTEROP_TESTS are set.
#   interop/layers-self          libsignal against itself (proves the driver)
#   interop/layers-can-fail      --tamper flips a bit of everything in transit (WILL_FAIL)
#   interop/layers-group-sls     3 members: sotto, libsignal, sotto; 1,000 messages each, shuffled, rotation
#   interop/layers-group-lsl     the same with libsignal, sotto, libsignal
#   interop/layers-sealed        v1 both ways + refusals; v2 with 1, 2, 10 recipients both ways, fan-out
#   interop/layers-fingerprint   displayable and scannable, compare both ways
#   interop/layers-sotto-self    sotto-peer in every role (group sss, sealed, fingerprint)
set(LAYERS_LIBSIGNAL "\"${NODE}\" \"${INTEROP_DIR}/peer_layers.js\"")
set(LAYERS_DRIVER ${NODE} ${INTEROP_DIR}/driver_layers.js --libsignal ${LAYERS_LIBSIGNAL})

add_test(NAME interop/layers-self
  COMMAND ${LAYERS_DRIVER} --sotto ${LAYERS_LIBSIGNAL} --case group3,seal1,fingerprint --messages 300)
list(APPEND INTEROP_TESTS interop/layers-self)

if(TARGET sotto-peer)
  set(LAYERS_SOTTO "\"$<TARGET_FILE:sotto-peer>\"")
  add_test(NAME interop/layers-can-fail
    COMMAND ${LAYERS_DRIVER} --sotto ${LAYERS_SOTTO} --case group3 --messages 50 --tamper)
  set_tests_properties(interop/layers-can-fail PROPERTIES WILL_FAIL TRUE)
  add_test(NAME interop/layers-group-sls
    COMMAND ${LAYERS_DRIVER} --sotto ${LAYERS_SOTTO} --case group3 --members sls --messages 1000)
  add_test(NAME interop/layers-group-lsl
    COMMAND ${LAYERS_DRIVER} --sotto ${LAYERS_SOTTO} --case group3 --members lsl --messages 1000)
  add_test(NAME interop/layers-sealed
    COMMAND ${LAYERS_DRIVER} --sotto ${LAYERS_SOTTO} --case seal1,seal2 --recipients 1,2,10)
  add_test(NAME interop/layers-fingerprint
    COMMAND ${LAYERS_DRIVER} --sotto ${LAYERS_SOTTO} --case fingerprint)
  add_test(NAME interop/layers-sotto-self
    COMMAND ${NODE} ${INTEROP_DIR}/driver_layers.js --sotto ${LAYERS_SOTTO} --libsignal ${LAYERS_SOTTO} --members sss)
  list(APPEND INTEROP_TESTS interop/layers-sotto-self interop/layers-can-fail interop/layers-group-sls interop/layers-group-lsl
       interop/layers-sealed interop/layers-fingerprint)
endif()
