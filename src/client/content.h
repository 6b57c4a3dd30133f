/* sotto client: the plaintext inside every Signal message we send.
 *
 *   version (1 byte, 0x01) || uid (16 random bytes) || timestamp (8 bytes,
 *   big-endian, milliseconds since the epoch, sender's clock) ||
 *   sender username length (1 byte) || sender username || UTF-8 text
 *
 * The uid makes delivery idempotent end to end: a message re-sent after a
 * crash (same uid) is stored once by the recipient. The sender's username is
 * a claim: the recipient checks it against the server's uuid for that name
 * before it believes it.
 *
 * A sent transcript (version byte 0x02) tells the sender's OTHER devices
 * what it sent, so that every device of an account has the conversation:
 *
 *   version (1 byte, 0x02) || uid || timestamp (as above) ||
 *   sender username length (1 byte) || sender username ||
 *   recipient username length (1 byte) || recipient username || UTF-8 text
 *
 * The uid and timestamp are the sent message's own, so a transcript sent
 * again is stored once. A device accepts a transcript only from its own
 * account (the envelope's source uuid is its own) and a version 0x01 message
 * only from another account. */
#ifndef SOTTO_CLIENT_CONTENT_H
#define SOTTO_CLIENT_CONTENT_H
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"

#define SOTTO_CONTENT_VERSION 0x01
#define SOTTO_CONTENT_HEAD    (1 + SOTTO_MSG_UID_BYTES + 8 + 1)
#define SOTTO_TEXT_MAX        (64u * 1024u)   /* longest message text, bytes */
#define SOTTO_CONTENT_MAX     (SOTTO_CONTENT_HEAD + SOTTO_PEER_MAX + SOTTO_TEXT_MAX)
#define SOTTO_TRANSCRIPT_VERSION 0x02
#define SOTTO_TRANSCRIPT_MAX  (SOTTO_CONTENT_MAX + 1 + SOTTO_PEER_MAX)

/* out has room for SOTTO_CONTENT_MAX; SOTTO_C_USAGE when text is too long. */
sotto_cstatus sotto_content_encode(uint8_t *out, size_t *out_len, const uint8_t uid[SOTTO_MSG_UID_BYTES],
                                   int64_t ts, const char *sender, const uint8_t *text,
                                   size_t text_len, char *err);
/* *text points into in; sender gets the NUL-terminated claimed username.
 * SOTTO_C_SERVER (malformed) on anything unexpected, including text that is
 * not UTF-8 or holds control characters. */
sotto_cstatus sotto_content_decode(const uint8_t *in, size_t len, uint8_t uid[SOTTO_MSG_UID_BYTES],
                                   int64_t *ts, char sender[SOTTO_PEER_MAX + 1],
                                   const uint8_t **text, size_t *text_len, char *err);

/* The version byte of decrypted content (0 when empty). */
int sotto_content_kind(const uint8_t *in, size_t len);

/* A sent transcript: out has room for SOTTO_TRANSCRIPT_MAX. */
sotto_cstatus sotto_transcript_encode(uint8_t *out, size_t *out_len, const uint8_t uid[SOTTO_MSG_UID_BYTES],
                                      int64_t ts, const char *sender, const char *recipient,
                                      const uint8_t *text, size_t text_len, char *err);
/* As sotto_content_decode; recipient gets the recipient's username, which
 * must be a canonical username (3..32 of [a-z0-9_.], a letter first). */
sotto_cstatus sotto_transcript_decode(const uint8_t *in, size_t len, uint8_t uid[SOTTO_MSG_UID_BYTES],
                                      int64_t *ts, char sender[SOTTO_PEER_MAX + 1],
                                      char recipient[SOTTO_PEER_MAX + 1], const uint8_t **text,
                                      size_t *text_len, char *err);

/* 1 when s[0..n) is valid UTF-8 with no NUL and no control characters other
 * than tab and newline. */
int sotto_text_ok(const uint8_t *s, size_t n);

#endif
