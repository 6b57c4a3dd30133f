/* sotto client: what client.c, client_send.c and client_recv.c share. */
#ifndef SOTTO_CLIENT_INTERNAL_H
#define SOTTO_CLIENT_INTERNAL_H
#include <jansson.h>
#include <stdint.h>

#include "client.h"
#include "sotto/err.h"
#include "sotto/session.h"

#define UUID_LEN 36
#define UUID_BYTES 16
#define CACERT_MAX (256u * 1024u)      /* largest --cacert file we keep */
#define META_KEY_MAX 128
#define REFILL_AFTER_PREKEY_MSGS 10    /* top up after this many prekey messages */
#define SOTTO_SECRET_B64_MAX (2 * SOTTO_SECRET_BYTES + 8)
#define SOTTO_REG_SIGNED_ID 1          /* the signed prekey and last-resort key registered */
#define SOTTO_OWN_DEVICES_RECHECK_MS 30000 /* with no other device known, ask the server again after this */
#define HELD_MAX_PER_PEER 500          /* held envelopes of one sender; more are dropped (and said so) */

/* Meta keys. */
#define M_SERVER "server_url"
#define M_CACERT "cacert_pem"
#define M_PIN "pin"
#define M_USERNAME "username"
#define M_UUID "uuid"
#define M_DEVICE "device_id"
#define M_SECRET "secret"
#define M_REGID "registration_id"
#define M_IDPRIV "identity_priv"
#define M_NEXT_EC "next_ec_id"
#define M_NEXT_KEM "next_kem_id"
#define M_REGISTERED "registered"
#define M_REG_SENT "register_sent"    /* a registration request may have reached the server */
#define M_SPK_ID "signed_prekey_id"   /* the current signed prekey */
#define M_SPK_AT "signed_prekey_at"   /* when it became current (seconds) */
#define M_UUID_OF "uuid_of:"     /* + username -> uuid */
#define M_NAME_OF "name_of:"     /* + uuid -> username */
#define M_IDENTITY "identity:"   /* + uuid -> remote identity key we trust (first seen, or accepted) */
#define M_IDENTITY_NEW "identity_new:" /* + uuid -> a different key seen since, not trusted */
#define M_TRUST "trust:"         /* + uuid -> how the key is trusted: absent (first use), "accepted", "verified" */
#define M_DEVICE_NAME "device_name" /* link --name: this device's label, kept only here */

struct sotto_client {
    sotto_cstore *st;
    sotto_http http;
    sotto_identity *id;
    char username[SOTTO_PEER_MAX + 1];
    char uuid[UUID_LEN + 1];
    uint32_t device_id;
    uint8_t *cacert;
    size_t cacert_len;
    sotto_ws *ws;
    int prekey_msgs; /* prekey messages since the last top-up */
    int64_t own_checked_ms; /* when GET /v1/devices last found no other device of ours;
                               0 after the server's "devices" event */
};

/* Helpers (client.c). */
int64_t sotto_cl_now_ms(void);
/* How to verify the server: the CA file and/or the pinned fingerprint given on
 * the command line (either may be NULL). */
sotto_cstatus sotto_cl_trust_of(sotto_trust *t, const char *cacert, const char *pin, char *err);
sotto_cstatus sotto_cl_lib(sotto_err e, char *err, const char *what);
json_t *sotto_cl_b64(const uint8_t *p, size_t n);
/* {"keyId","publicKey","signature"?} of a prekey. */
json_t *sotto_cl_key_json(uint32_t id, const uint8_t *pub, size_t len, const uint8_t *sig);
int sotto_cl_unb64(json_t *v, uint8_t *out, size_t want);
int sotto_cl_get_u32(json_t *o, const char *k, uint32_t lo, uint32_t hi, uint32_t *out);
int sotto_cl_uuid_ok(const char *s);
sotto_cstatus sotto_cl_meta_key(char out[META_KEY_MAX], const char *prefix, const char *v, char *err);
sotto_cstatus sotto_cl_meta_str(sotto_cstore *st, const char *k, char *out, size_t cap, char *err);
sotto_cstatus sotto_cl_call(sotto_client *c, const char *method, const char *path, json_t *body,
                            int *status, json_t **out, char *err);
sotto_cstatus sotto_cl_http_fail(int status, json_t *body, const char *what, char *err);
/* Fetches bundles of who (a username or uuid; device 0: all) and starts a session with each
 * device; learns and checks the uuid and identity key, and maps the uuid
 * to the username peer (client_send.c). */
sotto_cstatus sotto_cl_fetch_sessions(sotto_client *c, const char *who, const char *peer, uint32_t device,
                                      char uuid[UUID_LEN + 1], char *err);
/* Trust on first use of a peer's identity key (client_send.c). */
sotto_cstatus sotto_cl_check_identity(sotto_client *c, const char *uuid, const uint8_t key[SOTTO_EC_PUBLIC_BYTES],
                                      const char *who, char *err);
/* Notes key as the changed, not yet trusted identity key of uuid (client_send.c). */
sotto_cstatus sotto_cl_note_new_identity(sotto_client *c, const char *uuid, const uint8_t key[SOTTO_EC_PUBLIC_BYTES],
                                         char *err);
/* GET /v1/accounts/NAME: the uuid and device ids behind a username, without
 * spending a prekey. SOTTO_C_NOT_FOUND for a 404 (no such user, or a sottod
 * without the lookup). devs may be NULL (client_send.c). */
sotto_cstatus sotto_cl_lookup(sotto_client *c, const char *name, char uuid[UUID_LEN + 1], uint32_t *devs, size_t cap,
                              size_t *n, char *err);
/* The username we know for uuid, else the uuid itself (client_recv.c). */
sotto_cstatus sotto_cl_known_name(sotto_client *c, const char *uuid, char name[SOTTO_PEER_MAX + 1], char *err);
/* Reads uuid's held envelopes again, oldest first: stored ones are passed to
 * cb and counted in *released; ones still not trusted stay held (client_recv.c). */
sotto_cstatus sotto_cl_release_held(sotto_client *c, const char *uuid, sotto_incoming_cb cb, void *ctx,
                                    int *released, char *err);

/* Registration pieces shared with linking (register.c). */
void sotto_cl_remove_store(const char *dir, int key_file);
/* The trust anchor of a (cacert file contents or pin), replacing what the
 * store held. Inside a transaction. */
sotto_cstatus sotto_cl_store_trust(sotto_client *c, const sotto_register_args *a, char *err);
/* Stores server, username, a fresh secret, the identity (given_idpriv, or a
 * new one when NULL), registration id, signed and last-resort prekeys. */
sotto_cstatus sotto_cl_create_keys(sotto_client *c, const sotto_register_args *a, const char *name,
                                   const uint8_t *given_idpriv, char *err);
/* After the server took the device (c->uuid, c->device_id): logs in with
 * secret_b64 and uploads the first one-time prekeys. A failed upload is
 * reported on stderr ("sotto: <done>, but ...") and not an error: the next
 * receive tops the keys up. */
void sotto_cl_first_upload(sotto_client *c, const char *secret_b64, const char *done);
/* The POST /v1/accounts body from what the store holds; sets c->id. */
sotto_cstatus sotto_cl_build_request(sotto_client *c, const char *name, json_t *req,
                                    char secret_b64[SOTTO_SECRET_B64_MAX], char *err);

#endif
