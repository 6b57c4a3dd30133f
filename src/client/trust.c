/* sotto client: safety numbers and trusting a peer's changed identity key
 * (see client.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "sotto/fingerprint.h"
#include "sotto/session.h"

#define TRUST_ACCEPTED "accepted"
#define TRUST_VERIFIED "verified"
#define TRUST_HOW_MAX 16

/* 8-4-4-4-12 hex -> 16 bytes (the fingerprint's stable identifier, as the
 * binary ACI in Signal). */
static int uuid_bytes(uint8_t out[UUID_BYTES], const char *s)
{
    size_t got = 0;
    if (!sotto_cl_uuid_ok(s) || sodium_hex2bin(out, UUID_BYTES, s, UUID_LEN, "-", &got, NULL) != 0 ||
        got != UUID_BYTES)
        return -1;
    return 0;
}

/* The 60 digits for our identity and uuid's key. */
static sotto_cstatus safety_digits(sotto_client *c, const char *uuid, const uint8_t key[SOTTO_EC_PUBLIC_BYTES],
                                   char out[SOTTO_SAFETY_DIGITS + 1], char *err)
{
    uint8_t ours[UUID_BYTES], theirs[UUID_BYTES], our_key[SOTTO_EC_PUBLIC_BYTES];
    out[0] = '\0';
    if (uuid_bytes(ours, c->uuid) != 0 || uuid_bytes(theirs, uuid) != 0)
        return sotto_cfail(err, SOTTO_C_STORE, "store: bad account id");
    sotto_identity_public_key(c->id, our_key);
    sotto_fingerprint fp;
    sotto_cstatus rc = sotto_cl_lib(sotto_fingerprint_create(&fp, SOTTO_FINGERPRINT_VERSION,
                                                             SOTTO_FINGERPRINT_ITERATIONS, ours, sizeof ours,
                                                             our_key, theirs, sizeof theirs, key),
                                    err, "safety number");
    if (rc == SOTTO_C_OK)
        memcpy(out, fp.displayable, SOTTO_SAFETY_DIGITS + 1);
    return rc;
}

/* who: a username (canonical form) or a uuid -> uuid, display name. */
static sotto_cstatus find_peer(sotto_client *c, const char *who, char uuid[UUID_LEN + 1],
                               char name[SOTTO_PEER_MAX + 1], char *err)
{
    sotto_cstatus rc;
    if (sotto_cl_uuid_ok(who)) {
        for (size_t i = 0; i <= UUID_LEN; i++)
            uuid[i] = (char)tolower((unsigned char)who[i]);
        return sotto_cl_known_name(c, uuid, name, err);
    }
    if ((rc = sotto_username_canonical(name, who, err)) != SOTTO_C_OK)
        return rc;
    char k[META_KEY_MAX];
    if ((rc = sotto_cl_meta_key(k, M_UUID_OF, name, err)) != SOTTO_C_OK)
        return rc;
    rc = sotto_cl_meta_str(c->st, k, uuid, UUID_LEN + 1, err);
    if (rc == SOTTO_C_NOT_FOUND)
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no identity key of %s known yet (no message sent or received)",
                           name);
    return rc;
}

/* A stored 33-byte key; SOTTO_C_NOT_FOUND when absent. */
static sotto_cstatus get_key(sotto_client *c, const char *prefix, const char *uuid,
                             uint8_t key[SOTTO_EC_PUBLIC_BYTES], char *err)
{
    char k[META_KEY_MAX];
    uint8_t *v;
    size_t n;
    sotto_cstatus rc = sotto_cl_meta_key(k, prefix, uuid, err);
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_meta_get(c->st, k, &v, &n, err);
    if (rc != SOTTO_C_OK)
        return rc;
    if (n != SOTTO_EC_PUBLIC_BYTES)
        rc = sotto_cfail(err, SOTTO_C_STORE, "store: bad identity key of %s", uuid);
    else
        memcpy(key, v, SOTTO_EC_PUBLIC_BYTES);
    sotto_cstore_free_blob(v, n);
    return rc;
}

sotto_cstatus sotto_client_safety(sotto_client *c, const char *who, sotto_safety *out, char *err)
{
    memset(out, 0, sizeof *out);
    sotto_cstatus rc = find_peer(c, who, out->uuid, out->peer, err);
    if (rc != SOTTO_C_OK)
        return rc;
    uint8_t key[SOTTO_EC_PUBLIC_BYTES], fresh[SOTTO_EC_PUBLIC_BYTES];
    rc = get_key(c, M_IDENTITY, out->uuid, key, err);
    if (rc == SOTTO_C_NOT_FOUND)
        return sotto_cfail(err, SOTTO_C_NOT_FOUND, "no identity key of %s known yet (no message sent or received)",
                           out->peer);
    if (rc != SOTTO_C_OK || (rc = safety_digits(c, out->uuid, key, out->number, err)) != SOTTO_C_OK)
        return rc;
    char k[META_KEY_MAX], how[TRUST_HOW_MAX];
    if ((rc = sotto_cl_meta_key(k, M_TRUST, out->uuid, err)) != SOTTO_C_OK)
        return rc;
    rc = sotto_cl_meta_str(c->st, k, how, sizeof how, err);
    out->trust = SOTTO_TRUST_FIRST_USE;
    if (rc == SOTTO_C_OK && strcmp(how, TRUST_VERIFIED) == 0)
        out->trust = SOTTO_TRUST_VERIFIED;
    else if (rc == SOTTO_C_OK && strcmp(how, TRUST_ACCEPTED) == 0)
        out->trust = SOTTO_TRUST_ACCEPTED;
    else if (rc != SOTTO_C_OK && rc != SOTTO_C_NOT_FOUND)
        return rc;
    rc = get_key(c, M_IDENTITY_NEW, out->uuid, fresh, err);
    if (rc == SOTTO_C_OK) {
        out->changed = 1;
        rc = safety_digits(c, out->uuid, fresh, out->new_number, err);
    } else if (rc == SOTTO_C_NOT_FOUND) {
        rc = SOTTO_C_OK;
    }
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_held_count(c->st, out->uuid, &out->held, err);
    return rc;
}

/* DIGITS with any spaces: exactly 60 decimal digits -> out. */
static int digits_only(char out[SOTTO_SAFETY_DIGITS + 1], const char *in)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n')
            continue;
        if (*p < '0' || *p > '9' || n == SOTTO_SAFETY_DIGITS)
            return -1;
        out[n++] = *p;
    }
    out[n] = '\0';
    return n == SOTTO_SAFETY_DIGITS ? 0 : -1;
}

sotto_cstatus sotto_client_trust(sotto_client *c, const char *who, const char *digits, sotto_incoming_cb cb,
                                 void *ctx, sotto_trust_result *res, char *err)
{
    memset(res, 0, sizeof *res);
    char want[SOTTO_SAFETY_DIGITS + 1];
    if (digits != NULL && digits_only(want, digits) != 0)
        return sotto_cfail(err, SOTTO_C_USAGE, "--safety-number: 60 digits (spaces allowed)");
    sotto_safety s;
    sotto_cstatus rc = sotto_client_safety(c, who, &s, err);
    if (rc != SOTTO_C_OK)
        return rc;
    snprintf(res->peer, sizeof res->peer, "%s", s.peer);
    res->new_key = s.changed;
    /* The key being trusted: the new one when there is one, else the current. */
    const char *number = s.changed ? s.new_number : s.number;
    if (digits != NULL && sodium_memcmp(want, number, SOTTO_SAFETY_DIGITS) != 0)
        return sotto_cfail(err, SOTTO_C_UNTRUSTED,
                           "the safety number does not match the %s key of %s; nothing changed",
                           s.changed ? "new" : "current", s.peer);
    res->trust = digits != NULL ? SOTTO_TRUST_VERIFIED : s.changed ? SOTTO_TRUST_ACCEPTED : s.trust;
    if (!s.changed && digits == NULL) {
        res->unchanged = 1; /* nothing to accept */
        return SOTTO_C_OK;
    }
    char kt[META_KEY_MAX], ki[META_KEY_MAX], kn[META_KEY_MAX];
    uint8_t fresh[SOTTO_EC_PUBLIC_BYTES];
    if ((rc = sotto_cl_meta_key(kt, M_TRUST, s.uuid, err)) != SOTTO_C_OK ||
        (rc = sotto_cl_meta_key(ki, M_IDENTITY, s.uuid, err)) != SOTTO_C_OK ||
        (rc = sotto_cl_meta_key(kn, M_IDENTITY_NEW, s.uuid, err)) != SOTTO_C_OK ||
        (rc = sotto_cstore_begin(c->st, err)) != SOTTO_C_OK)
        return rc;
    const char *how = res->trust == SOTTO_TRUST_VERIFIED ? TRUST_VERIFIED : TRUST_ACCEPTED;
    rc = sotto_cstore_meta_set(c->st, kt, how, strlen(how), err);
    if (rc == SOTTO_C_OK && s.changed) {
        /* The new key replaces the old; sessions pinned to the old key go
         * (the next message starts new ones from fresh bundles). Read from
         * inside the transaction: what `safety` showed is what is trusted. */
        rc = get_key(c, M_IDENTITY_NEW, s.uuid, fresh, err);
        char check[SOTTO_SAFETY_DIGITS + 1];
        if (rc == SOTTO_C_OK)
            rc = safety_digits(c, s.uuid, fresh, check, err);
        if (rc == SOTTO_C_OK && sodium_memcmp(check, number, SOTTO_SAFETY_DIGITS) != 0)
            rc = sotto_cfail(err, SOTTO_C_UNTRUSTED, "the key of %s changed meanwhile; nothing changed", s.peer);
        if (rc == SOTTO_C_OK)
            rc = sotto_cstore_meta_set(c->st, ki, fresh, sizeof fresh, err);
        if (rc == SOTTO_C_OK)
            rc = sotto_cstore_meta_delete(c->st, kn, err);
        if (rc == SOTTO_C_OK)
            rc = sotto_cstore_session_delete_peer(c->st, s.uuid, err);
    }
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_commit(c->st, err);
    else
        sotto_cstore_rollback(c->st);
    if (rc != SOTTO_C_OK)
        return rc;
    /* Messages held while the key was not trusted: read them now. */
    rc = sotto_cl_release_held(c, s.uuid, cb, ctx, &res->released, err);
    int64_t left = 0;
    if (rc == SOTTO_C_OK)
        rc = sotto_cstore_held_count(c->st, s.uuid, &left, err);
    res->still_held = left;
    return rc;
}

const char *sotto_trust_name(int trust)
{
    switch (trust) {
    case SOTTO_TRUST_VERIFIED: return TRUST_VERIFIED;
    case SOTTO_TRUST_ACCEPTED: return TRUST_ACCEPTED;
    default: return "first-use";
    }
}
