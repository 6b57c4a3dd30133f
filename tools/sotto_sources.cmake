# sotto_sources_define(<out> fn...): the names among fn... that no libsotto
# source (SOTTO_LIB_SRCS) defines yet. The library is written while the
# peer and benches are: their targets are built only once every function
# they call is defined, so the tree stays green in between. A line that
# starts a definition (`type name(` at the start of a line) counts; the link
# checks the rest.
function(sotto_sources_define out)
  set(text "")
  foreach(f ${SOTTO_LIB_SRCS})
    file(READ ${f} t)
    string(APPEND text "${t}")
  endforeach()
  set(missing)
  foreach(fn ${ARGN})
    string(REGEX MATCH "(^|\n)[A-Za-z_][A-Za-z0-9_ *]*[ *]${fn}\\(" hit "${text}")
    if(NOT hit)
      list(APPEND missing ${fn})
    endif()
  endforeach()
  set(${out} "${missing}" PARENT_SCOPE)
endfunction()
