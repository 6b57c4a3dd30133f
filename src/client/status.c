#include "status.h"

#include <stdarg.h>
#include <stdio.h>

sotto_cstatus sotto_cfail(char *err, sotto_cstatus st, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, SOTTO_CERR_LEN, fmt, ap);
        va_end(ap);
    }
    return st;
}

static const char *const names[] = {
    [SOTTO_C_OK] = "ok",
    [SOTTO_C_FAILURE] = "failure",
    [SOTTO_C_USAGE] = "usage error",
    [SOTTO_C_NETWORK] = "network error",
    [SOTTO_C_SERVER] = "server error",
    [SOTTO_C_AUTH] = "authentication error",
    [SOTTO_C_LOCKED] = "store locked",
    [SOTTO_C_NOT_FOUND] = "not found",
    [SOTTO_C_STORE] = "store error",
    [SOTTO_C_UNTRUSTED] = "not trusted",
    [SOTTO_C_CONFLICT] = "conflict",
};
_Static_assert(sizeof names / sizeof names[0] == SOTTO_C_COUNT_, "one name per status");

const char *sotto_cstatus_name(sotto_cstatus st)
{
    if ((unsigned)st >= SOTTO_C_COUNT_)
        return "unknown";
    return names[st];
}
