/* sotto-peer: the conformance peer of /work/shared/docs/peer-protocol.md on
 * libsotto. One JSON request per line on stdin, one JSON reply per line on
 * stdout, flushed, strictly in order; the reply echoes "id".
 *
 * Everything lives in memory: our identity, one signed prekey, one-time EC
 * and Kyber prekeys (fresh per `bundle`, deleted once a prekey message used
 * them), a last-resort Kyber prekey (kept; it builds at most one session per
 * (signed prekey, base key) pair), sessions and trust-on-first-use
 * identities keyed by (peer name, device), and sender-key records keyed by
 * (sender, device, distribution id) for the group commands.
 *
 * Every request is checked and computed first and committed last: a request
 * that fails changes no state.
 *
 * Driver extras beyond the protocol document:
 *   bundle        {"noPreKey": true}        bundle without a one-time EC prekey
 *                 {"lastResortKyber": true} advertise the last-resort Kyber key
 *   save_session  {peer, device}            save the record, then replace it by
 *                                           sotto_session_load of those bytes; reply
 *                                           "session" (the bytes, base64)
 *   load_session  {peer, device, session?}  replace the record by sotto_session_load
 *                                           of session (default: the last saved bytes)
 *   group_create  {distributionId, rotate?} rotate: start a new sender chain
 *   certificate, fanout, fingerprint_compare, and the sealed sender commands
 *   seal / unseal: docs/PEER-LAYERS.md
 */
#define _POSIX_C_SOURCE 200809L /* getc_unlocked, strdup */
#include "peer.h"

static void peer_entry_clear(peer_entry *p)
{
    free(p->name);
    sotto_session_free(p->session);
    if (p->saved) {
        sodium_memzero(p->saved, p->saved_len);
        free(p->saved);
    }
    memset(p, 0, sizeof *p);
}

static void state_clear(peer_state *st)
{
    free(st->name);
    sotto_identity_free(st->id);
    if (st->ec) {
        sodium_memzero(st->ec, st->cap_ec * sizeof *st->ec);
        free(st->ec);
    }
    for (size_t i = 0; i < st->n_kyb; i++) {
        sodium_memzero(st->kyb[i], sizeof *st->kyb[i]);
        free(st->kyb[i]);
    }
    free(st->kyb);
    for (size_t i = 0; i < st->n_peers; i++)
        peer_entry_clear(&st->peers[i]);
    free(st->peers);
    for (size_t i = 0; i < st->n_groups; i++) {
        free(st->groups[i].name);
        sotto_sender_key_record_free(st->groups[i].rec);
    }
    free(st->groups);
    free(st->lr_uses);
    sodium_memzero(st, sizeof *st);
}

/* Grows *arr to hold one more element of size elem; false on overflow / no memory. */
bool reserve(void **arr, size_t *cap, size_t n, size_t elem, size_t max)
{
    if (n < *cap)
        return true;
    if (n >= max)
        return false;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > max)
        ncap = max;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static peer_entry *find_peer(peer_state *st, const char *name, uint32_t device)
{
    for (size_t i = 0; i < st->n_peers; i++)
        if (st->peers[i].device == device && strcmp(st->peers[i].name, name) == 0)
            return &st->peers[i];
    return NULL;
}

/* Finds or appends the entry for (name, device); NULL on no memory. The new
 * entry holds nothing, so leaving it behind after a failed request changes
 * no observable state. */
static peer_entry *get_peer(peer_state *st, const char *name, uint32_t device)
{
    peer_entry *p = find_peer(st, name, device);
    if (p)
        return p;
    if (!reserve((void **)&st->peers, &st->cap_peers, st->n_peers, sizeof *st->peers,
                 PEER_MAX_PEERS))
        return NULL;
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    p = &st->peers[st->n_peers++];
    memset(p, 0, sizeof *p);
    p->name = copy;
    p->device = device;
    return p;
}

static ec_prekey *find_ec(peer_state *st, uint32_t id)
{
    for (size_t i = 0; i < st->n_ec; i++)
        if (st->ec[i].id == id)
            return &st->ec[i];
    return NULL;
}

static void delete_ec(peer_state *st, uint32_t id)
{
    ec_prekey *k = find_ec(st, id);
    if (!k)
        return;
    size_t i = (size_t)(k - st->ec);
    st->ec[i] = st->ec[st->n_ec - 1];
    sodium_memzero(&st->ec[st->n_ec - 1], sizeof st->ec[0]);
    st->n_ec--;
}

static kyber_prekey *find_kyber(peer_state *st, uint32_t id)
{
    if (id == st->last_resort.id)
        return &st->last_resort;
    for (size_t i = 0; i < st->n_kyb; i++)
        if (st->kyb[i]->id == id)
            return st->kyb[i];
    return NULL;
}

static bool lr_used(const peer_state *st, uint32_t spk_id, const uint8_t *base_key)
{
    for (size_t i = 0; i < st->n_lr; i++)
        if (st->lr_uses[i].spk_id == spk_id &&
            memcmp(st->lr_uses[i].base_key, base_key, SOTTO_EC_PUBLIC_BYTES) == 0)
            return true;
    return false;
}

/* Deletes a one-time Kyber prekey; the last-resort one is kept. */
static void delete_kyber(peer_state *st, uint32_t id)
{
    for (size_t i = 0; i < st->n_kyb; i++) {
        if (st->kyb[i]->id == id) {
            sodium_memzero(st->kyb[i], sizeof *st->kyb[i]);
            free(st->kyb[i]);
            st->kyb[i] = st->kyb[--st->n_kyb];
            return;
        }
    }
}

/* ---------------------------------------------------------------- addresses */


static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

#define PEER_UUID_STRING_BYTES 36

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into 16 bytes. */
bool parse_uuid(const char *s, size_t n, uint8_t out[SOTTO_DISTRIBUTION_ID_BYTES])
{
    if (n != PEER_UUID_STRING_BYTES)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return false;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return k == SOTTO_DISTRIBUTION_ID_BYTES;
}

/* A ProtocolAddress name that is a ServiceId, as libsignal reads it: a UUID
 * (ACI, kind 0) or "PNI:" and a UUID (kind 1). */
_Static_assert(SOTTO_SERVICE_ID_BYTES == 1 + SOTTO_DISTRIBUTION_ID_BYTES,
               "a ServiceId is a kind byte and a UUID");
bool parse_service_id(const char *name, uint8_t out[SOTTO_SERVICE_ID_BYTES])
{
    out[0] = 0;
    if (strncmp(name, PNI_PREFIX, strlen(PNI_PREFIX)) == 0) {
        out[0] = 1;
        name += strlen(PNI_PREFIX);
    }
    return parse_uuid(name, strlen(name), out + 1);
}

/* When both names are ServiceIds, libsignal carries the two addresses in
 * prekey messages and checks them: tell the record. */
static sotto_err set_addresses(const peer_state *st, sotto_session *s, const char *peer,
                               uint32_t device)
{
    uint8_t local[SOTTO_SERVICE_ID_BYTES], remote[SOTTO_SERVICE_ID_BYTES];
    if (!parse_service_id(st->name, local) || !parse_service_id(peer, remote))
        return SOTTO_OK;
    return sotto_session_set_addresses(s, local, st->device, remote, device);
}

/* ---------------------------------------------------------------- replies */


bool fail(reply *r, const char *fmt, const char *detail)
{
    snprintf(r->err, sizeof r->err, fmt, detail ? detail : "");
    return false;
}

bool fail_lib(reply *r, const char *what, sotto_err e)
{
    snprintf(r->err, sizeof r->err, "%s: %s", what, sotto_strerror(e));
    return false;
}

bool set_b64(reply *r, const char *key, const uint8_t *bin, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (!s)
        return fail(r, "out of memory", NULL);
    sodium_bin2base64(s, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *v = json_stringn_nocheck(s, cap - 1);
    free(s);
    if (!v || json_object_set_new(r->obj, key, v) != 0)
        return fail(r, "out of memory", NULL);
    return true;
}

bool set_int(reply *r, const char *key, json_int_t v)
{
    if (json_object_set_new(r->obj, key, json_integer(v)) != 0)
        return fail(r, "out of memory", NULL);
    return true;
}

/* ---------------------------------------------------------------- request fields */

/* Decodes a base64 string field into a fresh buffer of at most max bytes. */
bool get_b64(reply *r, json_t *req, const char *key, size_t max,
                    uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    json_t *v = json_object_get(req, key);
    if (!json_is_string(v))
        return fail(r, "missing or non-string field \"%s\"", key);
    size_t slen = json_string_length(v);
    if (slen > (max + 2) / 3 * 4) /* longer than the base64 of max bytes */
        return fail(r, "field \"%s\" too long", key);
    size_t cap = slen / 4 * 3 + 3;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        return fail(r, "out of memory", NULL);
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(buf, cap, json_string_value(v), slen, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != json_string_value(v) + slen || n > max) {
        free(buf);
        return fail(r, "field \"%s\" is not valid base64 of an acceptable size", key);
    }
    *out = buf;
    *out_len = n;
    return true;
}

/* A base64 field of exactly len bytes. */
bool get_b64_fixed(reply *r, json_t *req, const char *key, uint8_t *out, size_t len)
{
    uint8_t *buf;
    size_t n;
    if (!get_b64(r, req, key, len, &buf, &n))
        return false;
    bool ok = n == len;
    if (ok)
        memcpy(out, buf, len);
    free(buf);
    if (!ok)
        return fail(r, "field \"%s\" has the wrong length", key);
    return true;
}

bool get_u32(reply *r, json_t *req, const char *key, uint32_t lo, uint32_t hi,
                    bool required, uint32_t dflt, uint32_t *out)
{
    json_t *v = json_object_get(req, key);
    if (!v && !required) {
        *out = dflt;
        return true;
    }
    if (!json_is_integer(v))
        return fail(r, "missing or non-integer field \"%s\"", key);
    json_int_t x = json_integer_value(v);
    if (x < (json_int_t)lo || x > (json_int_t)hi)
        return fail(r, "field \"%s\" out of range", key);
    *out = (uint32_t)x;
    return true;
}

bool get_name(reply *r, json_t *req, const char *key, const char **out)
{
    json_t *v = json_object_get(req, key);
    if (!json_is_string(v))
        return fail(r, "missing or non-string field \"%s\"", key);
    size_t n = json_string_length(v);
    if (n == 0 || n > PEER_MAX_NAME_BYTES || memchr(json_string_value(v), 0, n))
        return fail(r, "field \"%s\" must be 1..256 bytes without NUL", key);
    *out = json_string_value(v);
    return true;
}

bool get_addr(reply *r, json_t *req, const char **name, uint32_t *device)
{
    return get_name(r, req, "peer", name) &&
           get_u32(r, req, "device", 1, PEER_MAX_DEVICE_ID, false, PEER_DEFAULT_DEVICE, device);
}

bool get_bool(json_t *req, const char *key)
{
    return json_is_true(json_object_get(req, key));
}

bool need_init(peer_state *st, reply *r)
{
    if (!st->ready)
        return fail(r, "not initialised: send init first", NULL);
    return true;
}

/* ---------------------------------------------------------------- commands */

static bool make_signed_ec(peer_state *st, ec_prekey *k, uint8_t sig[SOTTO_SIGNATURE_BYTES],
                           reply *r)
{
    sotto_err e = sotto_ec_keypair(k->pub, k->priv);
    if (e == SOTTO_OK && sig)
        e = sotto_identity_sign(st->id, sig, k->pub, sizeof k->pub);
    return e == SOTTO_OK ? true : fail_lib(r, "key generation", e);
}

static bool make_kyber(peer_state *st, kyber_prekey *k, reply *r)
{
    sotto_err e = sotto_kyber_keypair(k->pub, k->sec);
    if (e == SOTTO_OK)
        e = sotto_identity_sign(st->id, k->sig, k->pub, sizeof k->pub);
    return e == SOTTO_OK ? true : fail_lib(r, "Kyber key generation", e);
}

/* Fills r->obj["bundle"]: fresh one-time keys unless told otherwise. The new
 * keys are committed only once the reply is complete. */
static bool cmd_bundle(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    bool no_prekey = get_bool(req, "noPreKey");
    bool last_resort = get_bool(req, "lastResortKyber");
    if (!no_prekey && !reserve((void **)&st->ec, &st->cap_ec, st->n_ec, sizeof *st->ec,
                               PEER_MAX_PREKEYS))
        return fail(r, "too many one-time prekeys held", NULL);
    if (!last_resort && !reserve((void **)&st->kyb, &st->cap_kyb, st->n_kyb, sizeof *st->kyb,
                                 PEER_MAX_PREKEYS))
        return fail(r, "too many one-time Kyber prekeys held", NULL);

    ec_prekey ec = { .id = st->next_ec_id };
    kyber_prekey *kyb = NULL;
    const kyber_prekey *adv = &st->last_resort;
    bool ok = false;
    if (!no_prekey && !make_signed_ec(st, &ec, NULL, r))
        goto out;
    if (!last_resort) {
        kyb = malloc(sizeof *kyb);
        if (!kyb) {
            fail(r, "out of memory", NULL);
            goto out;
        }
        kyb->id = st->next_kyber_id;
        if (!make_kyber(st, kyb, r))
            goto out;
        adv = kyb;
    }

    json_t *outer = r->obj;
    json_t *b = json_object();
    if (!b || json_object_set_new(outer, "bundle", b) != 0) {
        fail(r, "out of memory", NULL);
        goto out;
    }
    r->obj = b;
    ok = json_object_set_new(b, "address", json_string(st->name)) == 0 &&
         set_int(r, "registrationId", sotto_identity_registration_id(st->id)) &&
         set_int(r, "deviceId", st->device) &&
         set_b64(r, "identityKey", st->identity_pub, sizeof st->identity_pub) &&
         (no_prekey || (set_int(r, "preKeyId", ec.id) &&
                        set_b64(r, "preKey", ec.pub, sizeof ec.pub))) &&
         set_int(r, "signedPreKeyId", st->spk.id) &&
         set_b64(r, "signedPreKey", st->spk.pub, sizeof st->spk.pub) &&
         set_b64(r, "signedPreKeySignature", st->spk_sig, sizeof st->spk_sig) &&
         set_int(r, "kyberPreKeyId", adv->id) &&
         set_b64(r, "kyberPreKey", adv->pub, sizeof adv->pub) &&
         set_b64(r, "kyberPreKeySignature", adv->sig, sizeof adv->sig);
    r->obj = outer;
    if (!ok) {
        if (!r->err[0])
            fail(r, "out of memory", NULL);
        goto out;
    }
    /* Commit. */
    if (!no_prekey) {
        st->ec[st->n_ec++] = ec;
        st->next_ec_id++;
    }
    if (kyb) {
        st->kyb[st->n_kyb++] = kyb;
        st->next_kyber_id++;
        kyb = NULL;
    }
out:
    sodium_memzero(&ec, sizeof ec);
    if (kyb) {
        sodium_memzero(kyb, sizeof *kyb);
        free(kyb);
    }
    return ok;
}

static bool cmd_init(peer_state *st, json_t *req, reply *r)
{
    const char *name = PEER_DEFAULT_NAME;
    uint32_t device, regid;
    if (json_object_get(req, "name") && !get_name(r, req, "name", &name))
        return false;
    if (!get_u32(r, req, "device", 1, PEER_MAX_DEVICE_ID, false, PEER_DEFAULT_DEVICE, &device))
        return false;
    if (!get_u32(r, req, "registrationId", 1, PEER_MAX_REGISTRATION_ID, false,
                 1 + randombytes_uniform(PEER_MAX_REGISTRATION_ID), &regid))
        return false;

    /* Build the new state aside; replace the old one only on success. */
    peer_state ns;
    memset(&ns, 0, sizeof ns);
    ns.device = device;
    ns.next_ec_id = 1;
    ns.next_kyber_id = PEER_LAST_RESORT_KYBER_ID + 1;
    ns.name = strdup(name);
    sotto_err e = ns.name ? sotto_identity_generate(&ns.id, regid) : SOTTO_ERR_NO_MEMORY;
    if (e != SOTTO_OK) {
        state_clear(&ns);
        return fail_lib(r, "identity generation", e);
    }
    sotto_identity_public_key(ns.id, ns.identity_pub);
    ns.spk.id = PEER_SIGNED_PREKEY_ID;
    ns.last_resort.id = PEER_LAST_RESORT_KYBER_ID;
    ns.ready = true;
    if (!make_signed_ec(&ns, &ns.spk, ns.spk_sig, r) || !make_kyber(&ns, &ns.last_resort, r) ||
        !cmd_bundle(&ns, req, r)) {
        state_clear(&ns);
        return false;
    }
    state_clear(st);
    *st = ns;
    return true;
}

static bool bundle_field_u32(reply *r, json_t *b, const char *key, uint32_t *out)
{
    return get_u32(r, b, key, 0, UINT32_MAX, true, 0, out);
}

static bool cmd_process_bundle(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device))
        return false;
    json_t *b = json_object_get(req, "bundle");
    if (!json_is_object(b))
        return fail(r, "missing or non-object field \"bundle\"", NULL);

    sotto_bundle *bu = calloc(1, sizeof *bu);
    if (!bu)
        return fail(r, "out of memory", NULL);
    bool ok = false;
    sotto_session *fresh = NULL;
    if (!bundle_field_u32(r, b, "registrationId", &bu->registration_id) ||
        !bundle_field_u32(r, b, "deviceId", &bu->device_id) ||
        !get_b64_fixed(r, b, "identityKey", bu->identity_key, sizeof bu->identity_key) ||
        !bundle_field_u32(r, b, "signedPreKeyId", &bu->signed_pre_key_id) ||
        !get_b64_fixed(r, b, "signedPreKey", bu->signed_pre_key, sizeof bu->signed_pre_key) ||
        !get_b64_fixed(r, b, "signedPreKeySignature", bu->signed_pre_key_signature,
                       sizeof bu->signed_pre_key_signature) ||
        !bundle_field_u32(r, b, "kyberPreKeyId", &bu->kyber_pre_key_id) ||
        !get_b64_fixed(r, b, "kyberPreKey", bu->kyber_pre_key, sizeof bu->kyber_pre_key) ||
        !get_b64_fixed(r, b, "kyberPreKeySignature", bu->kyber_pre_key_signature,
                       sizeof bu->kyber_pre_key_signature))
        goto out;
    json_t *pk = json_object_get(b, "preKey");
    if (pk && !json_is_null(pk)) {
        bu->has_pre_key = 1;
        if (!bundle_field_u32(r, b, "preKeyId", &bu->pre_key_id) ||
            !get_b64_fixed(r, b, "preKey", bu->pre_key, sizeof bu->pre_key))
            goto out;
    }

    peer_entry *p = find_peer(st, name, device);
    if (p && p->trusted && sodium_memcmp(p->identity, bu->identity_key, sizeof p->identity) != 0) {
        fail(r, "untrusted identity: the identity key of %s changed", name);
        goto out;
    }
    /* Work on a copy of the record; commit only when the bundle processed. */
    sotto_err e;
    if (p && p->session) {
        uint8_t *buf = NULL;
        size_t len = 0;
        e = sotto_session_save(p->session, NULL, 0, &len);
        if (e == SOTTO_OK && !(buf = malloc(len ? len : 1)))
            e = SOTTO_ERR_NO_MEMORY;
        if (e == SOTTO_OK)
            e = sotto_session_save(p->session, buf, len, &len);
        if (e == SOTTO_OK)
            e = sotto_session_load(&fresh, buf, len);
        if (buf) {
            sodium_memzero(buf, len);
            free(buf);
        }
    } else {
        e = sotto_session_new(&fresh);
    }
    if (e == SOTTO_OK)
        e = set_addresses(st, fresh, name, device);
    if (e != SOTTO_OK) {
        fail_lib(r, "session copy", e);
        goto out;
    }
    e = sotto_session_process_bundle(fresh, st->id, bu);
    if (e != SOTTO_OK) {
        fail_lib(r, "process_bundle", e);
        goto out;
    }
    if (!(p = get_peer(st, name, device))) {
        fail(r, "out of memory or too many peers", NULL);
        goto out;
    }
    sotto_session_free(p->session);
    p->session = fresh;
    fresh = NULL;
    p->trusted = true;
    memcpy(p->identity, bu->identity_key, sizeof p->identity);
    ok = true;
out:
    sotto_session_free(fresh);
    free(bu);
    return ok;
}

static bool cmd_encrypt(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device))
        return false;
    peer_entry *p = find_peer(st, name, device);
    if (!p || !p->session)
        return fail(r, "no session with %s", name);
    uint8_t *pt, *ct = NULL;
    size_t pt_len, ct_len = 0;
    if (!get_b64(r, req, "plaintext", SOTTO_MAX_PLAINTEXT_BYTES, &pt, &pt_len))
        return false;
    size_t cap = sotto_session_ciphertext_bound(pt_len);
    bool ok = false;
    int type = 0;
    if (!(ct = malloc(cap ? cap : 1))) {
        fail(r, "out of memory", NULL);
        goto out;
    }
    sotto_err e = sotto_session_encrypt(p->session, st->id, pt, pt_len, ct, cap, &ct_len, &type);
    if (e != SOTTO_OK) {
        fail_lib(r, "encrypt", e);
        goto out;
    }
    ok = set_int(r, "type", type) && set_b64(r, "ciphertext", ct, ct_len);
out:
    sodium_memzero(pt, pt_len);
    free(pt);
    free(ct);
    return ok;
}

/* A PreKey message: read the ids it names, check trust, fetch our private
 * halves, decrypt. When a named one-time key is gone (already used by an
 * earlier prekey message of the same handshake) the record may still hold the
 * state for that base key: then decrypt without keys, as libsignal does. */
static sotto_err decrypt_prekey(peer_state *st, const char *name, uint32_t device,
                                const uint8_t *ct, size_t ct_len,
                                uint8_t *pt, size_t pt_cap, size_t *pt_len, reply *r)
{
    sotto_prekey_ids ids;
    sotto_err e = sotto_prekey_message_ids(ct, ct_len, &ids);
    if (e != SOTTO_OK) {
        fail_lib(r, "decrypt", e);
        return e;
    }
    peer_entry *p = find_peer(st, name, device);
    if (p && p->trusted && sodium_memcmp(p->identity, ids.identity_key, sizeof p->identity) != 0) {
        fail(r, "untrusted identity: the identity key of %s changed", name);
        return SOTTO_ERR_UNTRUSTED_IDENTITY;
    }
    const ec_prekey *opk = ids.has_pre_key ? find_ec(st, ids.pre_key_id) : NULL;
    const kyber_prekey *kpk = find_kyber(st, ids.kyber_pre_key_id);
    bool last_resort = kpk == &st->last_resort;
    if (last_resort && lr_used(st, ids.signed_pre_key_id, ids.base_key))
        kpk = NULL; /* spent for this base key: only an existing session may answer */
    bool have_all = ids.signed_pre_key_id == st->spk.id && kpk && (!ids.has_pre_key || opk);
    if (have_all && last_resort &&
        !reserve((void **)&st->lr_uses, &st->cap_lr, st->n_lr, sizeof *st->lr_uses,
                 PEER_MAX_PREKEYS)) {
        fail(r, "too many last-resort Kyber prekey uses held", NULL);
        return SOTTO_ERR_NO_MEMORY;
    }

    sotto_prekey_secrets *keys = NULL;
    if (have_all) {
        keys = calloc(1, sizeof *keys);
        if (!keys) {
            fail(r, "out of memory", NULL);
            return SOTTO_ERR_NO_MEMORY;
        }
        keys->signed_pre_key_id = st->spk.id;
        memcpy(keys->signed_pre_key_public, st->spk.pub, sizeof st->spk.pub);
        memcpy(keys->signed_pre_key_private, st->spk.priv, sizeof st->spk.priv);
        if (opk) {
            keys->has_pre_key = 1;
            keys->pre_key_id = opk->id;
            memcpy(keys->pre_key_public, opk->pub, sizeof opk->pub);
            memcpy(keys->pre_key_private, opk->priv, sizeof opk->priv);
        }
        keys->kyber_pre_key_id = kpk->id;
        memcpy(keys->kyber_pre_key_secret, kpk->sec, sizeof kpk->sec);
    } else if (!p || !p->session) {
        snprintf(r->err, sizeof r->err, "missing prekey: the message names %s %" PRIu32,
                 ids.signed_pre_key_id != st->spk.id ? "signed prekey"
                 : !kpk                              ? "Kyber prekey"
                                                     : "one-time prekey",
                 ids.signed_pre_key_id != st->spk.id ? ids.signed_pre_key_id
                 : !kpk                              ? ids.kyber_pre_key_id
                                                     : ids.pre_key_id);
        return SOTTO_ERR_MISSING_PREKEY;
    }

    /* A new record for a new peer is only kept when decryption succeeds. */
    sotto_session *fresh = NULL;
    sotto_session *s = p ? p->session : NULL;
    if (!s) {
        e = sotto_session_new(&fresh);
        if (e == SOTTO_OK)
            e = set_addresses(st, fresh, name, device);
        s = fresh;
    }
    if (e == SOTTO_OK)
        e = sotto_session_decrypt(s, st->id, keys, SOTTO_MSG_PREKEY, ct, ct_len, pt, pt_cap,
                                  pt_len);
    if (keys) {
        sodium_memzero(keys, sizeof *keys);
        free(keys);
    }
    if (e == SOTTO_OK && !(p = get_peer(st, name, device)))
        e = SOTTO_ERR_NO_MEMORY;
    if (e != SOTTO_OK) {
        sotto_session_free(fresh);
        if (e == SOTTO_ERR_UNTRUSTED_IDENTITY)
            fail(r, "untrusted identity: the identity key of %s changed", name);
        else
            fail_lib(r, "decrypt", e);
        return e;
    }
    /* Commit: the record, the pinned identity, and the one-time keys used. */
    if (fresh)
        p->session = fresh;
    p->trusted = true;
    memcpy(p->identity, ids.identity_key, sizeof p->identity);
    if (have_all) {
        if (ids.has_pre_key)
            delete_ec(st, ids.pre_key_id);
        if (last_resort) {
            lr_use *u = &st->lr_uses[st->n_lr++];
            u->spk_id = ids.signed_pre_key_id;
            memcpy(u->base_key, ids.base_key, sizeof u->base_key);
        } else {
            delete_kyber(st, ids.kyber_pre_key_id);
        }
    }
    return SOTTO_OK;
}

static bool cmd_decrypt(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device, type;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device) ||
        !get_u32(r, req, "type", SOTTO_MSG_WHISPER, SOTTO_MSG_PREKEY, true, 0, &type))
        return false;
    uint8_t *ct, *pt = NULL;
    size_t ct_len, pt_len = 0;
    if (!get_b64(r, req, "ciphertext", PEER_MAX_CIPHERTEXT, &ct, &ct_len))
        return false;
    bool ok = false;
    size_t cap = ct_len; /* plaintext is never longer than its ciphertext */
    if (!(pt = malloc(cap ? cap : 1))) {
        fail(r, "out of memory", NULL);
        goto out;
    }
    if (type == SOTTO_MSG_PREKEY) {
        if (decrypt_prekey(st, name, device, ct, ct_len, pt, cap, &pt_len, r) != SOTTO_OK)
            goto out;
    } else {
        peer_entry *p = find_peer(st, name, device);
        if (!p || !p->session) {
            fail(r, "no session with %s", name);
            goto out;
        }
        sotto_err e = sotto_session_decrypt(p->session, st->id, NULL, SOTTO_MSG_WHISPER, ct,
                                            ct_len, pt, cap, &pt_len);
        if (e != SOTTO_OK) {
            fail_lib(r, "decrypt", e);
            goto out;
        }
    }
    ok = set_b64(r, "plaintext", pt, pt_len);
out:
    if (pt) {
        sodium_memzero(pt, cap);
        free(pt);
    }
    free(ct);
    return ok;
}

static bool cmd_sign(peer_state *st, json_t *req, reply *r)
{
    if (!need_init(st, r))
        return false;
    uint8_t *msg, sig[SOTTO_SIGNATURE_BYTES];
    size_t len;
    if (!get_b64(r, req, "message", PEER_MAX_SIGNED_MESSAGE, &msg, &len))
        return false;
    sotto_err e = sotto_identity_sign(st->id, sig, msg, len);
    free(msg);
    if (e != SOTTO_OK)
        return fail_lib(r, "sign", e);
    return set_b64(r, "signature", sig, sizeof sig);
}

static bool cmd_verify(peer_state *st, json_t *req, reply *r)
{
    (void)st;
    uint8_t key[SOTTO_EC_PUBLIC_BYTES], sig[SOTTO_SIGNATURE_BYTES], *msg;
    size_t len;
    if (!get_b64_fixed(r, req, "key", key, sizeof key) ||
        !get_b64_fixed(r, req, "signature", sig, sizeof sig) ||
        !get_b64(r, req, "message", PEER_MAX_SIGNED_MESSAGE, &msg, &len))
        return false;
    sotto_err e = sotto_verify(key, msg, len, sig);
    free(msg);
    if (e != SOTTO_OK && e != SOTTO_ERR_BAD_SIGNATURE)
        return fail_lib(r, "verify", e);
    if (json_object_set_new(r->obj, "valid", json_boolean(e == SOTTO_OK)) != 0)
        return fail(r, "out of memory", NULL);
    return true;
}

static bool cmd_save_session(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device))
        return false;
    peer_entry *p = find_peer(st, name, device);
    if (!p || !p->session)
        return fail(r, "no session with %s", name);
    size_t len = 0;
    uint8_t *buf = NULL;
    sotto_session *reloaded = NULL;
    sotto_err e = sotto_session_save(p->session, NULL, 0, &len);
    if (e == SOTTO_OK && !(buf = malloc(len ? len : 1)))
        e = SOTTO_ERR_NO_MEMORY;
    if (e == SOTTO_OK)
        e = sotto_session_save(p->session, buf, len, &len);
    if (e == SOTTO_OK)
        e = sotto_session_load(&reloaded, buf, len);
    if (e != SOTTO_OK || !set_b64(r, "session", buf, len)) {
        if (buf) {
            sodium_memzero(buf, len);
            free(buf);
        }
        sotto_session_free(reloaded);
        return e != SOTTO_OK ? fail_lib(r, "save_session", e) : false;
    }
    sotto_session_free(p->session);
    p->session = reloaded;
    if (p->saved) {
        sodium_memzero(p->saved, p->saved_len);
        free(p->saved);
    }
    p->saved = buf;
    p->saved_len = len;
    return true;
}

static bool cmd_load_session(peer_state *st, json_t *req, reply *r)
{
    const char *name;
    uint32_t device;
    if (!need_init(st, r) || !get_addr(r, req, &name, &device))
        return false;
    peer_entry *p = find_peer(st, name, device);
    uint8_t *buf = NULL;
    size_t len = 0;
    bool own = false;
    if (json_object_get(req, "session")) {
        if (!get_b64(r, req, "session", PEER_MAX_SESSION_RECORD, &buf, &len))
            return false;
        own = true;
    } else if (p && p->saved) {
        buf = p->saved;
        len = p->saved_len;
    } else {
        return fail(r, "no saved record for %s: send save_session first or give \"session\"", name);
    }
    sotto_session *loaded = NULL;
    sotto_err e = sotto_session_load(&loaded, buf, len);
    if (own) {
        sodium_memzero(buf, len);
        free(buf);
    }
    if (e != SOTTO_OK)
        return fail_lib(r, "load_session", e);
    if (!p && !(p = get_peer(st, name, device))) {
        sotto_session_free(loaded);
        return fail(r, "out of memory or too many peers", NULL);
    }
    sotto_session_free(p->session);
    p->session = loaded;
    return true;
}

typedef bool (*cmd_fn)(peer_state *, json_t *, reply *);
static const struct { const char *name; cmd_fn fn; } commands[] = {
    { "init", cmd_init },
    { "bundle", cmd_bundle },
    { "process_bundle", cmd_process_bundle },
    { "encrypt", cmd_encrypt },
    { "decrypt", cmd_decrypt },
    { "sign", cmd_sign },
    { "verify", cmd_verify },
    { "save_session", cmd_save_session },
    { "load_session", cmd_load_session },
    { "fingerprint", cmd_fingerprint },
    { "group_create", cmd_group_create },
    { "group_process", cmd_group_process },
    { "group_encrypt", cmd_group_encrypt },
    { "group_decrypt", cmd_group_decrypt },
    { "certificate", cmd_certificate },
    { "seal", cmd_seal },
    { "unseal", cmd_unseal },
    { "fanout", cmd_fanout },
    { "fingerprint_compare", cmd_fingerprint_compare },
};

/* ---------------------------------------------------------------- main loop */

static void emit(json_t *id, reply *r, bool ok)
{
    json_t *out = ok ? r->obj : json_object();
    if (!ok) {
        json_object_set_new(out, "error", json_string(r->err[0] ? r->err : "failed"));
        json_decref(r->obj);
    }
    r->obj = NULL;
    json_object_set_new(out, "ok", json_boolean(ok));
    if (id)
        json_object_set(out, "id", id);
    char *s = json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        fputs(s, stdout);
        free(s);
    } else {
        fputs("{\"ok\":false,\"error\":\"cannot encode reply\"}", stdout);
    }
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(out);
}

static void handle(peer_state *st, const char *line, size_t len)
{
    reply r = { .obj = json_object() };
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *id = NULL;
    bool ok = false;
    if (!r.obj) {
        fail(&r, "out of memory", NULL);
    } else if (!json_is_object(req)) {
        fail(&r, "malformed request: %s", req ? "not a JSON object" : jerr.text);
    } else {
        id = json_object_get(req, "id");
        json_t *cmd = json_object_get(req, "cmd");
        if (!json_is_string(cmd)) {
            fail(&r, "missing or non-string field \"cmd\"", NULL);
        } else {
            size_t i;
            for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, json_string_value(cmd)) == 0)
                    break;
            if (i < sizeof commands / sizeof commands[0])
                ok = commands[i].fn(st, req, &r);
            else
                fail(&r, "unsupported command", NULL);
        }
    }
    emit(id, &r, ok);
    json_decref(req);
}

/* Reads one line into buf (cap = PEER_MAX_LINE_BYTES + 1). Returns 1 for a
 * line, 0 at end of input, -1 for a line over the limit (consumed, dropped).
 * Byte by byte so that a NUL inside a line cannot split it in two. */
static int read_line(char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool over = false;
    int c;
    while ((c = getc_unlocked(stdin)) != EOF && c != '\n') {
        if (n < cap - 1)
            buf[n++] = (char)c;
        else
            over = true;
    }
    if (c == EOF && n == 0 && !over)
        return 0;
    if (over)
        return -1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    *len = n;
    return 1;
}

int main(void)
{
    if (sotto_init() != SOTTO_OK) {
        fprintf(stderr, "sotto-peer: sotto_init failed\n");
        return 1;
    }
    json_object_seed(0);
    size_t cap = PEER_MAX_LINE_BYTES + 1;
    char *buf = malloc(cap);
    if (!buf)
        return 1;
    peer_state st;
    memset(&st, 0, sizeof st);
    size_t len = 0;
    int rc;
    while ((rc = read_line(buf, cap, &len)) != 0) {
        if (rc < 0) {
            reply r = { .obj = NULL };
            snprintf(r.err, sizeof r.err, "request line longer than %u bytes",
                     (unsigned)PEER_MAX_LINE_BYTES);
            emit(NULL, &r, false);
            continue;
        }
        if (len == 0)
            continue;
        /* A NUL byte inside a line is malformed JSON for jansson. */
        handle(&st, buf, len);
    }
    state_clear(&st);
    free(buf);
    return 0;
}
