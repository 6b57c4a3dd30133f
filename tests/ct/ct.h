/* Constant-time checking under valgrind (the ctgrind technique).
 * CT_SECRET marks bytes as undefined: memcheck then reports any conditional
 * jump or memory index that depends on them. CT_PUBLIC declassifies a value
 * that the protocol reveals anyway (a public key, a ciphertext) before the
 * test inspects it. Outside valgrind both are no-ops. */
#ifndef SOTTO_TESTS_CT_H
#define SOTTO_TESTS_CT_H
#include <valgrind/memcheck.h>
#define CT_SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define CT_PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
