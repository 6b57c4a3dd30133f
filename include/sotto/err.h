/* sotto: one error type for the whole library. */
#ifndef SOTTO_ERR_H
#define SOTTO_ERR_H

#if defined(SOTTO_BUILDING)
#define SOTTO_API __attribute__((visibility("default")))
#else
#define SOTTO_API
#endif

typedef enum sotto_err {
    SOTTO_OK = 0,
    SOTTO_ERR_INVALID_ARGUMENT,   /* caller passed something unusable */
    SOTTO_ERR_BUFFER_TOO_SMALL,   /* output capacity too small; nothing written */
    SOTTO_ERR_NO_MEMORY,
    SOTTO_ERR_MALFORMED,          /* outside bytes do not parse */
    SOTTO_ERR_UNSUPPORTED_VERSION,/* a version byte we do not speak */
    SOTTO_ERR_INVALID_KEY,        /* wrong key type byte, bad length, low-order point */
    SOTTO_ERR_BAD_SIGNATURE,      /* a signature did not verify */
    SOTTO_ERR_BAD_MAC,            /* authentication failed; state unchanged */
    SOTTO_ERR_DUPLICATE_MESSAGE,  /* this message key was already used */
    SOTTO_ERR_KEY_NO_LONGER_HELD, /* the skipped key was evicted under the storage limit */
    SOTTO_ERR_TOO_FAR_AHEAD,      /* a counter jump past SOTTO_MAX_FORWARD_JUMPS */
    SOTTO_ERR_NO_SESSION,         /* no usable session state for this message */
    SOTTO_ERR_UNTRUSTED_IDENTITY, /* the remote identity key changed */
    SOTTO_ERR_MISSING_PREKEY,     /* a prekey message names a key the caller did not supply */
    SOTTO_ERR_PQ_RATCHET,         /* the SPQR payload was refused */
    SOTTO_ERR_INVALID_STATE,      /* saved state bytes do not load */
    SOTTO_ERR_CRYPTO,             /* an underlying crypto library call failed */
    SOTTO_ERR_COUNT_              /* not an error: the number of codes */
} sotto_err;

/* A static, human-readable sentence for the code; never NULL. */
SOTTO_API const char *sotto_strerror(sotto_err e);

/* Initialises the crypto libraries. Call once before anything else; safe to
 * call again. Returns SOTTO_ERR_CRYPTO when libsodium or OpenSSL fail. */
SOTTO_API sotto_err sotto_init(void);

#endif
