/* sotto client: outcomes. Each value is also the process exit code, so
 * scripts can rely on it (docs/CLIENT.md lists them). Errors carry a reason
 * in a caller-owned buffer of SOTTO_CERR_LEN bytes, never a secret. */
#ifndef SOTTO_CLIENT_STATUS_H
#define SOTTO_CLIENT_STATUS_H
#include <stddef.h>

#define SOTTO_CERR_LEN 256

typedef enum sotto_cstatus {
    SOTTO_C_OK = 0,
    SOTTO_C_FAILURE = 1,      /* internal error, crypto library failure */
    SOTTO_C_USAGE = 2,        /* bad command line, unusable input */
    SOTTO_C_NETWORK = 3,      /* cannot connect, connection lost, timeout */
    SOTTO_C_SERVER = 4,       /* the server answered with an error or nonsense */
    SOTTO_C_AUTH = 5,         /* the server refused our credentials */
    SOTTO_C_LOCKED = 6,       /* the store is in use by another process */
    SOTTO_C_NOT_FOUND = 7,    /* unknown user, or no account in this store */
    SOTTO_C_STORE = 8,        /* wrong passphrase/key, or the store is damaged */
    SOTTO_C_UNTRUSTED = 9,    /* server certificate or peer identity not trusted */
    SOTTO_C_CONFLICT = 10,    /* username taken; store already registered */
    SOTTO_C_COUNT_
} sotto_cstatus;

/* Formats a reason into err (may be NULL) and returns st. */
sotto_cstatus sotto_cfail(char *err, sotto_cstatus st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short name for the status ("network error"...). */
const char *sotto_cstatus_name(sotto_cstatus st);

#endif
