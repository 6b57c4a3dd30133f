#include <stddef.h>
#include "sotto/err.h"

static const char *const messages[] = {
    [SOTTO_OK] = "success",
    [SOTTO_ERR_INVALID_ARGUMENT] = "invalid argument",
    [SOTTO_ERR_BUFFER_TOO_SMALL] = "output buffer too small",
    [SOTTO_ERR_NO_MEMORY] = "out of memory",
    [SOTTO_ERR_MALFORMED] = "malformed input",
    [SOTTO_ERR_UNSUPPORTED_VERSION] = "unsupported version",
    [SOTTO_ERR_INVALID_KEY] = "invalid key",
    [SOTTO_ERR_BAD_SIGNATURE] = "signature verification failed",
    [SOTTO_ERR_BAD_MAC] = "message authentication failed",
    [SOTTO_ERR_DUPLICATE_MESSAGE] = "duplicate message: key already used",
    [SOTTO_ERR_KEY_NO_LONGER_HELD] = "message key no longer held (evicted by the stored-key limit)",
    [SOTTO_ERR_TOO_FAR_AHEAD] = "message counter too far ahead",
    [SOTTO_ERR_NO_SESSION] = "no session for this message",
    [SOTTO_ERR_UNTRUSTED_IDENTITY] = "untrusted identity: the remote identity key changed",
    [SOTTO_ERR_MISSING_PREKEY] = "the message names a prekey that was not supplied",
    [SOTTO_ERR_PQ_RATCHET] = "post-quantum ratchet error",
    [SOTTO_ERR_INVALID_STATE] = "saved state is invalid",
    [SOTTO_ERR_CRYPTO] = "crypto library failure",
};
_Static_assert(sizeof messages / sizeof messages[0] == SOTTO_ERR_COUNT_,
               "every sotto_err needs a message");

const char *sotto_strerror(sotto_err e)
{
    if ((unsigned)e >= (unsigned)SOTTO_ERR_COUNT_ || messages[e] == NULL)
        return "unknown error";
    return messages[e];
}
