/* Sealed sender certificates (include/sotto/sealed.h), as libsignal's
 * ServerCertificate and SenderCertificate: create, parse, validate. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "protocol/sealed_internal.h"
#include "protocol/layers.h"
#include "layers.pb-c.h"

#define SIG_BYTES SOTTO_SIGNATURE_BYTES

/* libsignal's KNOWN_SERVER_CERTIFICATES (sealed_sender.rs): production server
 * certificates a sender certificate may name by id instead of embedding. */
static const struct { uint32_t id; const char *hex; } KNOWN_SERVER_CERTS[] = {
    { 2, "0a25080212210539450d63ebd0752c0fd4038b9d07a916f5e174b756d409b5ca79f4c97400631e124064c5a38b1e"
         "927497d3d4786b101a623ab34a7da3954fae126b04dba9d7a3604ed88cdc8550950f0d4a9134ceb7e19b94139151d2c3"
         "d6e1c81e9d1128aafca806" },
    { 3, "0a250803122105bc9d1d290be964810dfa7e94856480a3f7060d004c9762c24c575a1522353a5a1240c11ec3c401"
         "eb0107ab38f8600e8720a63169e0e2eb8a3fae24f63099f85ea319c3c1c46d3454706ae2a679d1fee690a488adda98"
         "a2290b66c906bb60295ed781" },
    { 0x7357C357, "0a2908d786df9a07122105847c0d2c375234f365e660955187a3735a0f7613d1609d3a6a4d8c53aeaa5a"
                  "221240e0b9ebacdfc3aa2827f7924b697784d1c25e44ca05dd433e1a38dc6382eb2730d419ca9a250b1be9d"
                  "5a9463e61efd6781777a91b83c97b844d014206e2829785" },
};
#define KNOWN_CERT_MAX_BYTES 160

static sotto_err key_33(uint8_t out[SOTTO_EC_PUBLIC_BYTES], const ProtobufCBinaryData *b)
{
    /* libsignal's PublicKey::try_from: type 0x05 and 32 bytes (trailing bytes tolerated) */
    if (b->len < SOTTO_EC_PUBLIC_BYTES || b->data[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    memcpy(out, b->data, SOTTO_EC_PUBLIC_BYTES);
    return SOTTO_OK;
}

static sotto_err server_cert_parse(sotto_server_cert_view *v, sotto_arena *a,
                                   const uint8_t *buf, size_t len)
{
    memset(v, 0, sizeof *v);
    if (buf == NULL || len > SOTTO_CERT_MAX_BYTES)
        return SOTTO_ERR_MALFORMED;
    ProtobufCAllocator al = sotto_arena_allocator(a);
    Sotto__Layers__ServerCertificate *pb = sotto__layers__server_certificate__unpack(&al, len, buf);
    if (pb == NULL || !pb->has_certificate || !pb->has_signature)
        return SOTTO_ERR_MALFORMED;
    Sotto__Layers__ServerCertificateData *c = sotto__layers__server_certificate_data__unpack(
        &al, pb->certificate.len, pb->certificate.data);
    if (c == NULL || !c->has_key || !c->has_id)
        return SOTTO_ERR_MALFORMED;
    sotto_err e = key_33(v->key, &c->key);
    if (e != SOTTO_OK)
        return e;
    v->id = c->id;
    v->certificate = pb->certificate.data;
    v->certificate_len = pb->certificate.len;
    v->signature = pb->signature.data;
    v->signature_len = pb->signature.len;
    return SOTTO_OK;
}

static int verify(const uint8_t key[SOTTO_EC_PUBLIC_BYTES], const uint8_t *msg, size_t len,
                  const uint8_t *sig, size_t sig_len)
{
    return sig_len == SIG_BYTES && sotto_verify(key, msg, len, sig) == SOTTO_OK;
}

sotto_err sotto_server_certificate_create(uint8_t *out, size_t cap, size_t *len, uint32_t key_id,
                                          const uint8_t server_key[SOTTO_EC_PUBLIC_BYTES],
                                          const uint8_t trust_root_private[SOTTO_EC_PRIVATE_BYTES])
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (out == NULL || server_key == NULL || trust_root_private == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (server_key[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    Sotto__Layers__ServerCertificateData c = SOTTO__LAYERS__SERVER_CERTIFICATE_DATA__INIT;
    c.has_id = c.has_key = 1;
    c.id = key_id;
    c.key.data = (uint8_t *)server_key;
    c.key.len = SOTTO_EC_PUBLIC_BYTES;
    uint8_t inner[64], sig[SIG_BYTES];
    const size_t inner_len = sotto__layers__server_certificate_data__pack(&c, inner);
    sotto_err e = sotto_sign(sig, trust_root_private, inner, inner_len);
    if (e != SOTTO_OK)
        return e;
    Sotto__Layers__ServerCertificate s = SOTTO__LAYERS__SERVER_CERTIFICATE__INIT;
    s.has_certificate = s.has_signature = 1;
    s.certificate.data = inner;
    s.certificate.len = inner_len;
    s.signature.data = sig;
    s.signature.len = sizeof sig;
    const size_t need = sotto__layers__server_certificate__get_packed_size(&s);
    if (cap < need)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    *len = sotto__layers__server_certificate__pack(&s, out);
    return SOTTO_OK;
}

sotto_err sotto_sender_certificate_create(uint8_t *out, size_t cap, size_t *len,
                                          const char *sender_uuid, const char *sender_e164,
                                          uint32_t sender_device,
                                          const uint8_t identity_key[SOTTO_EC_PUBLIC_BYTES],
                                          uint64_t expires_ms,
                                          const uint8_t *server_cert, size_t server_cert_len,
                                          const uint8_t server_private[SOTTO_EC_PRIVATE_BYTES])
{
    if (len == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *len = 0;
    if (out == NULL || sender_uuid == NULL || identity_key == NULL || server_cert == NULL
        || server_private == NULL || strlen(sender_uuid) > SOTTO_CERT_MAX_STRING
        || (sender_e164 != NULL && strlen(sender_e164) > SOTTO_CERT_MAX_STRING)
        || sender_device < 1 || sender_device > SOTTO_SEALED_V2_MAX_DEVICES
        || server_cert_len > SOTTO_CERT_MAX_BYTES)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (identity_key[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    Sotto__Layers__SenderCertificateData c = SOTTO__LAYERS__SENDER_CERTIFICATE_DATA__INIT;
    c.uuidstring = (char *)sender_uuid;
    c.sendere164 = (char *)sender_e164;
    c.has_senderdevice = c.has_expires = c.has_identitykey = c.has_signercertificate = 1;
    c.senderdevice = sender_device;
    c.expires = expires_ms;
    c.identitykey.data = (uint8_t *)identity_key;
    c.identitykey.len = SOTTO_EC_PUBLIC_BYTES;
    c.signercertificate.data = (uint8_t *)server_cert;
    c.signercertificate.len = server_cert_len;
    uint8_t inner[2 * SOTTO_CERT_MAX_BYTES], sig[SIG_BYTES];
    const size_t inner_need = sotto__layers__sender_certificate_data__get_packed_size(&c);
    if (inner_need > sizeof inner)
        return SOTTO_ERR_INVALID_ARGUMENT;
    const size_t inner_len = sotto__layers__sender_certificate_data__pack(&c, inner);
    sotto_err e = sotto_sign(sig, server_private, inner, inner_len);
    if (e != SOTTO_OK)
        return e;
    Sotto__Layers__SenderCertificate s = SOTTO__LAYERS__SENDER_CERTIFICATE__INIT;
    s.has_certificate = s.has_signature = 1;
    s.certificate.data = inner;
    s.certificate.len = inner_len;
    s.signature.data = sig;
    s.signature.len = sizeof sig;
    const size_t need = sotto__layers__sender_certificate__get_packed_size(&s);
    if (cap < need)
        return SOTTO_ERR_BUFFER_TOO_SMALL;
    *len = sotto__layers__sender_certificate__pack(&s, out);
    return SOTTO_OK;
}

/* The parsed sender certificate plus where its signed part and signature
 * are, and its signer. */
typedef struct sender_view {
    sotto_sender_certificate cert;
    const uint8_t *certificate; size_t certificate_len;
    const uint8_t *signature; size_t signature_len;
    int signer_by_id;
    uint32_t signer_id;
    sotto_server_cert_view server;
} sender_view;

static void uuid_string(char out[37], const uint8_t u[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = 0;
}

static sotto_err copy_string(char *out, const char *s)
{
    const size_t n = strlen(s);
    if (n > SOTTO_CERT_MAX_STRING)
        return SOTTO_ERR_MALFORMED;
    memcpy(out, s, n + 1);
    return SOTTO_OK;
}

static sotto_err sender_parse(sender_view *v, sotto_arena *a, const uint8_t *buf, size_t len)
{
    memset(v, 0, sizeof *v);
    if (buf == NULL || len > SOTTO_CERT_MAX_BYTES)
        return SOTTO_ERR_MALFORMED;
    ProtobufCAllocator al = sotto_arena_allocator(a);
    Sotto__Layers__SenderCertificate *pb = sotto__layers__sender_certificate__unpack(&al, len, buf);
    if (pb == NULL || !pb->has_certificate || !pb->has_signature)
        return SOTTO_ERR_MALFORMED;
    Sotto__Layers__SenderCertificateData *c = sotto__layers__sender_certificate_data__unpack(
        &al, pb->certificate.len, pb->certificate.data);
    if (c == NULL || !c->has_senderdevice || c->senderdevice < 1
        || c->senderdevice > SOTTO_SEALED_V2_MAX_DEVICES || !c->has_expires || !c->has_identitykey)
        return SOTTO_ERR_MALFORMED;
    /* oneof fields in libsignal: exactly one of each pair here */
    const int has_uuid_bytes = c->has_uuidbytes, has_uuid_string = c->uuidstring != NULL;
    if (has_uuid_bytes == has_uuid_string || c->has_signercertificate == c->has_signerid)
        return SOTTO_ERR_MALFORMED;
    sotto_err e;
    if (has_uuid_bytes) {
        if (c->uuidbytes.len != SOTTO_UUID_BYTES)
            return SOTTO_ERR_MALFORMED;
        uuid_string(v->cert.sender_uuid, c->uuidbytes.data);
    } else if ((e = copy_string(v->cert.sender_uuid, c->uuidstring)) != SOTTO_OK) {
        return e;
    }
    if (c->sendere164 != NULL) {
        v->cert.has_e164 = 1;
        if ((e = copy_string(v->cert.sender_e164, c->sendere164)) != SOTTO_OK)
            return e;
    }
    v->cert.sender_device = c->senderdevice;
    v->cert.expires_ms = c->expires;
    if ((e = key_33(v->cert.identity_key, &c->identitykey)) != SOTTO_OK)
        return e;
    if (c->has_signercertificate) {
        if ((e = server_cert_parse(&v->server, a, c->signercertificate.data, c->signercertificate.len)) != SOTTO_OK)
            return e;
        v->cert.server_key_id = v->server.id;
        memcpy(v->cert.server_key, v->server.key, SOTTO_EC_PUBLIC_BYTES);
    } else {
        v->signer_by_id = 1;
        v->signer_id = c->signerid;
        v->cert.server_key_id = c->signerid;
    }
    v->certificate = pb->certificate.data;
    v->certificate_len = pb->certificate.len;
    v->signature = pb->signature.data;
    v->signature_len = pb->signature.len;
    return SOTTO_OK;
}

/* A signer named by id: one of libsignal's known certificates. */
static sotto_err known_signer(sender_view *v, sotto_arena *a)
{
    for (size_t i = 0; i < sizeof KNOWN_SERVER_CERTS / sizeof KNOWN_SERVER_CERTS[0]; i++) {
        if (KNOWN_SERVER_CERTS[i].id != v->signer_id)
            continue;
        uint8_t *bin = sotto_arena_alloc(a, KNOWN_CERT_MAX_BYTES);
        size_t n = 0;
        const char *h = KNOWN_SERVER_CERTS[i].hex;
        if (bin == NULL || sodium_hex2bin(bin, KNOWN_CERT_MAX_BYTES, h, strlen(h), NULL, &n, NULL) != 0)
            return SOTTO_ERR_NO_MEMORY;
        sotto_err e = server_cert_parse(&v->server, a, bin, n);
        if (e == SOTTO_OK)
            memcpy(v->cert.server_key, v->server.key, SOTTO_EC_PUBLIC_BYTES);
        return e;
    }
    return SOTTO_ERR_MALFORMED; /* libsignal: unknown sealed sender server certificate id */
}

sotto_err sotto_sender_certificate_parse(const uint8_t *cert, size_t len, sotto_sender_certificate *out)
{
    if (out == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    sotto_arena a;
    sotto_arena_init(&a);
    sender_view v;
    sotto_err e = sender_parse(&v, &a, cert, len);
    if (e == SOTTO_OK && v.signer_by_id)
        e = known_signer(&v, &a);
    if (e == SOTTO_OK)
        *out = v.cert;
    sotto_arena_release(&a);
    return e;
}

sotto_err sotto_sender_certificate_validate(const uint8_t *cert, size_t len,
                                            const uint8_t trust_root[SOTTO_EC_PUBLIC_BYTES],
                                            uint64_t now_ms, sotto_cert_status *status)
{
    if (status == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    *status = SOTTO_CERT_UNTRUSTED_SERVER;
    if (trust_root == NULL)
        return SOTTO_ERR_INVALID_ARGUMENT;
    if (trust_root[0] != SOTTO_KEY_TYPE_DJB)
        return SOTTO_ERR_INVALID_KEY;
    sotto_arena a;
    sotto_arena_init(&a);
    sender_view v;
    sotto_err e = sender_parse(&v, &a, cert, len);
    if (e == SOTTO_OK && v.signer_by_id)
        e = known_signer(&v, &a);
    if (e != SOTTO_OK)
        goto out;
    /* libsignal's order: the server certificate under the trust root (and
     * not revoked), the sender certificate under the server key, expiry. */
    if (v.server.id == SOTTO_REVOKED_SERVER_KEY_ID
        || !verify(trust_root, v.server.certificate, v.server.certificate_len, v.server.signature,
                   v.server.signature_len))
        *status = SOTTO_CERT_UNTRUSTED_SERVER;
    else if (!verify(v.server.key, v.certificate, v.certificate_len, v.signature, v.signature_len))
        *status = SOTTO_CERT_BAD_SIGNATURE;
    else if (now_ms > v.cert.expires_ms)
        *status = SOTTO_CERT_EXPIRED;
    else
        *status = SOTTO_CERT_VALID;
out:
    sotto_arena_release(&a);
    return e;
}
