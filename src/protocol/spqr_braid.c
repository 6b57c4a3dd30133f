/* SPQR v1: the ML-KEM-768 braid state machine (states.rs, send_ek.rs,
 * send_ct.rs and their unchunked halves) and the top level that joins it to
 * the epoch chains (lib.rs send / recv). See spqr_braid.h. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "crypto/primitives.h"
#include "protocol/spqr.h"
#include "protocol/spqr_braid.h"

static const char INFO_SCKA_KEY[] = "Signal_PQCKA_V1_MLKEM768:SCKA Key";
static const uint8_t ZERO_SALT[32];

#define PQ_ERR SOTTO_ERR_PQ_RATCHET

/* ---- messages (serialize.rs) ---- */

static int has_chunk(uint8_t type)
{
    return type != SOTTO_SPQR_T_NONE && type != SOTTO_SPQR_T_CT1ACK;
}

/* Parsed by spqr.c's sotto_spqr_parse (serialize.rs Message::deserialize). */
sotto_err sotto_spqr_braid_msg_parse(sotto_spqr_braid_msg *m, const uint8_t *p, size_t n)
{
    sotto_spqr_msg pm;
    memset(m, 0, sizeof *m);
    sotto_err e = sotto_spqr_parse(&pm, p, n);
    if (e != SOTTO_OK)
        return e;
    m->epoch = pm.epoch;
    m->index = pm.index;
    m->type = pm.type;
    if (has_chunk(pm.type)) {
        m->chunk_index = pm.chunk_index;
        memcpy(m->chunk, pm.chunk, SOTTO_SPQR_EC_CHUNK_BYTES);
    }
    return SOTTO_OK;
}

size_t sotto_spqr_braid_msg_write(const sotto_spqr_braid_msg *m,
                                  uint8_t out[SOTTO_SPQR_BRAID_MSG_MAX])
{
    size_t n = 0;
    out[n++] = SOTTO_SPQR_VERSION_V1;
    n += sotto_spqr_put_varint(out + n, m->epoch);
    n += sotto_spqr_put_varint(out + n, m->index);
    out[n++] = m->type;
    if (has_chunk(m->type)) {
        n += sotto_spqr_put_varint(out + n, m->chunk_index);
        memcpy(out + n, m->chunk, SOTTO_SPQR_EC_CHUNK_BYTES);
        n += SOTTO_SPQR_EC_CHUNK_BYTES;
    }
    return n;
}

/* ---- the KEM state machine ---- */

/* secret = HKDF(0^32, ss, "Signal_PQCKA_V1_MLKEM768:SCKA Key" || BE64(epoch), 32),
 * then the authenticator takes it. */
static sotto_err epoch_secret(sotto_spqr_scka *s, const uint8_t ss[32], uint8_t secret[32])
{
    uint8_t info[sizeof INFO_SCKA_KEY - 1 + 8];
    memcpy(info, INFO_SCKA_KEY, sizeof INFO_SCKA_KEY - 1);
    for (unsigned i = 0; i < 8; i++)
        info[sizeof INFO_SCKA_KEY - 1 + i] = (uint8_t)(s->epoch >> (56 - 8 * i));
    sotto_err e = sotto_hkdf_sha256(secret, 32, ZERO_SALT, sizeof ZERO_SALT, ss, 32, info,
                                    sizeof info);
    if (e == SOTTO_OK)
        e = sotto_spqr_auth_update(&s->auth, s->epoch, secret, 32);
    return e;
}

static void chunk_out(sotto_spqr_scka *s, sotto_spqr_braid_msg *m, uint8_t type)
{
    m->type = type;
    m->chunk_index = sotto_spqr_ec_next_chunk(&s->enc, m->chunk);
}

/* Ct1SentEkReceived::send_ct2: ct2 || MAC(ct1 || ct2) to send. */
static sotto_err send_ct2(sotto_spqr_scka *s)
{
    uint8_t ct[MLKEM768_CTBYTES], msg[SOTTO_SPQR_BRAID_CT2_MSG];
    memcpy(ct, s->ct1, MLKEM768_CT1BYTES);
    sotto_mlkem768_encaps2(ct + MLKEM768_CT1BYTES, s->es, s->ek);
    memcpy(msg, ct + MLKEM768_CT1BYTES, MLKEM768_CT2BYTES);
    sotto_err e = sotto_spqr_auth_mac_ct(&s->auth, s->epoch, ct, sizeof ct,
                                         msg + MLKEM768_CT2BYTES);
    if (e == SOTTO_OK)
        e = sotto_spqr_ec_encoder_init(&s->enc, msg, sizeof msg);
    if (e == SOTTO_OK) {
        sodium_memzero(s->es, sizeof s->es);
        s->state = SOTTO_BRAID_CT2_SAMPLED;
    }
    return e;
}

/* The states in which send samples nothing: the type sent and whether it
 * carries the encoder's next chunk (that position is all send changes). */
static int send_plain(uint8_t state, uint8_t *type, int *chunk)
{
    *chunk = 1;
    switch (state) {
    case SOTTO_BRAID_KEYS_SAMPLED:
        *type = SOTTO_SPQR_T_HDR;
        return 1;
    case SOTTO_BRAID_HEADER_SENT:
        *type = SOTTO_SPQR_T_EK;
        return 1;
    case SOTTO_BRAID_CT1_RECEIVED:
        *type = SOTTO_SPQR_T_EKCT1ACK;
        return 1;
    case SOTTO_BRAID_CT1_SAMPLED:
    case SOTTO_BRAID_EK_RECEIVED_CT1_SAMPLED:
        *type = SOTTO_SPQR_T_CT1;
        return 1;
    case SOTTO_BRAID_CT2_SAMPLED:
        *type = SOTTO_SPQR_T_CT2;
        return 1;
    case SOTTO_BRAID_EK_SENT_CT1_RECEIVED:
        *chunk = 0;
        *type = SOTTO_SPQR_T_CT1ACK;
        return 1;
    case SOTTO_BRAID_NO_HEADER_RECEIVED:
    case SOTTO_BRAID_CT1_ACKNOWLEDGED:
        *chunk = 0;
        *type = SOTTO_SPQR_T_NONE;
        return 1;
    default:
        *chunk = 0;
        return 0;
    }
}

sotto_err sotto_spqr_scka_send(sotto_spqr_scka *s, sotto_spqr_braid_msg *m, uint8_t secret[32],
                               int *has_secret)
{
    sotto_err e = SOTTO_OK;
    uint8_t type;
    int chunk;
    memset(m, 0, sizeof *m);
    *has_secret = 0;
    m->epoch = s->epoch;
    if (send_plain(s->state, &type, &chunk)) {
        if (chunk)
            chunk_out(s, m, type);
        else
            m->type = type;
        return SOTTO_OK;
    }
    switch (s->state) {
    case SOTTO_BRAID_KEYS_UNSAMPLED: {
        /* KeysUnsampled::send_hdr_chunk: fresh keys, header || MAC in chunks */
        uint8_t seed[MLKEM768_KEYGEN_SEEDBYTES], ek[MLKEM768_EKBYTES];
        uint8_t msg[SOTTO_SPQR_BRAID_HDR_MSG];
        randombytes_buf(seed, sizeof seed);
        sotto_mlkem768_keypair_derand(ek, s->dk, seed);
        sodium_memzero(seed, sizeof seed);
        sotto_mlkem768_dk_header(msg, s->dk);
        e = sotto_spqr_auth_mac_hdr(&s->auth, s->epoch, msg, MLKEM768_HDRBYTES,
                                    msg + MLKEM768_HDRBYTES);
        if (e == SOTTO_OK)
            e = sotto_spqr_ec_encoder_init(&s->enc, msg, sizeof msg);
        if (e != SOTTO_OK)
            return e;
        s->state = SOTTO_BRAID_KEYS_SAMPLED;
        chunk_out(s, m, SOTTO_SPQR_T_HDR);
        return SOTTO_OK;
    }
    case SOTTO_BRAID_HEADER_RECEIVED: {
        /* HeaderReceived::send_ct1_chunk: encaps1, the epoch secret now */
        uint8_t mrand[MLKEM768_ENC_SEEDBYTES], ss[MLKEM768_SSBYTES];
        randombytes_buf(mrand, sizeof mrand);
        sotto_mlkem768_encaps1(s->ct1, s->es, ss, s->hdr, mrand);
        sodium_memzero(mrand, sizeof mrand);
        e = epoch_secret(s, ss, secret);
        sodium_memzero(ss, sizeof ss);
        if (e == SOTTO_OK)
            e = sotto_spqr_ec_encoder_init(&s->enc, s->ct1, sizeof s->ct1);
        if (e != SOTTO_OK)
            return e;
        *has_secret = 1;
        s->state = SOTTO_BRAID_CT1_SAMPLED;
        chunk_out(s, m, SOTTO_SPQR_T_CT1);
        return SOTTO_OK;
    }
    default:
        return SOTTO_ERR_INVALID_STATE;
    }
}

/* The ek received (t) must match the header; then on to ct2 or the ack wait. */
static sotto_err ek_decoded(sotto_spqr_scka *s, int ack)
{
    if (!sotto_mlkem768_ek_matches_header(s->ek, s->hdr))
        return PQ_ERR; /* ErroneousDataReceived */
    if (ack)
        return send_ct2(s);
    s->state = SOTTO_BRAID_EK_RECEIVED_CT1_SAMPLED;
    return SOTTO_OK;
}

/* Whether a message of type t at our epoch concerns state `state` (every
 * other type is ignored there). */
static int recv_wants(uint8_t state, uint8_t t)
{
    switch (state) {
    case SOTTO_BRAID_KEYS_SAMPLED:
    case SOTTO_BRAID_HEADER_SENT:
        return t == SOTTO_SPQR_T_CT1;
    case SOTTO_BRAID_CT1_RECEIVED:
    case SOTTO_BRAID_EK_SENT_CT1_RECEIVED:
        return t == SOTTO_SPQR_T_CT2;
    case SOTTO_BRAID_NO_HEADER_RECEIVED:
        return t == SOTTO_SPQR_T_HDR;
    case SOTTO_BRAID_CT1_SAMPLED:
    case SOTTO_BRAID_CT1_ACKNOWLEDGED:
        return t == SOTTO_SPQR_T_EK || t == SOTTO_SPQR_T_EKCT1ACK;
    case SOTTO_BRAID_EK_RECEIVED_CT1_SAMPLED:
        return t == SOTTO_SPQR_T_CT1ACK || t == SOTTO_SPQR_T_EKCT1ACK;
    default: /* KeysUnsampled, HeaderReceived, Ct2Sampled */
        return 0;
    }
}

/* sotto_spqr_scka_recv(s, m) would succeed and change nothing. */
static int recv_is_noop(const sotto_spqr_scka *s, const sotto_spqr_braid_msg *m)
{
    if (s->state >= SOTTO_BRAID_STATE_COUNT_ || m->epoch > s->epoch)
        return 0;
    return m->epoch < s->epoch || !recv_wants(s->state, m->type);
}

sotto_err sotto_spqr_scka_recv(sotto_spqr_scka *s, const sotto_spqr_braid_msg *m,
                               uint8_t secret[32], int *has_secret)
{
    sotto_err e = SOTTO_OK;
    *has_secret = 0;
    if (s->state >= SOTTO_BRAID_STATE_COUNT_)
        return SOTTO_ERR_INVALID_STATE;
    if (m->epoch > s->epoch) {
        /* Ct2Sampled::recv_next_epoch: the peer decapsulated; we send keys next */
        if (s->state == SOTTO_BRAID_CT2_SAMPLED && m->epoch == s->epoch + 1) {
            s->epoch++;
            s->state = SOTTO_BRAID_KEYS_UNSAMPLED;
            return SOTTO_OK;
        }
        return PQ_ERR; /* EpochOutOfRange */
    }
    if (m->epoch < s->epoch || !recv_wants(s->state, m->type))
        return SOTTO_OK;
    uint8_t t = m->type;
    switch (s->state) {
    case SOTTO_BRAID_KEYS_SAMPLED:
        if (t != SOTTO_SPQR_T_CT1)
            return SOTTO_OK;
        /* recv_ct1_chunk: start decoding ct1, start sending t */
        {
            uint8_t ek_t[MLKEM768_EK_T_BYTES];
            sotto_mlkem768_dk_ek_t(ek_t, s->dk);
            e = sotto_spqr_ec_encoder_init(&s->enc, ek_t, sizeof ek_t);
        }
        if (e == SOTTO_OK)
            e = sotto_spqr_ec_decoder_init(&s->dec, MLKEM768_CT1BYTES);
        if (e != SOTTO_OK)
            return e;
        sotto_spqr_ec_add_chunk(&s->dec, m->chunk_index, m->chunk);
        s->state = SOTTO_BRAID_HEADER_SENT;
        return SOTTO_OK;
    case SOTTO_BRAID_HEADER_SENT:
        if (t != SOTTO_SPQR_T_CT1)
            return SOTTO_OK;
        sotto_spqr_ec_add_chunk(&s->dec, m->chunk_index, m->chunk);
        if (sotto_spqr_ec_decoded(&s->dec, s->ct1, sizeof s->ct1))
            s->state = SOTTO_BRAID_CT1_RECEIVED;
        return SOTTO_OK;
    case SOTTO_BRAID_CT1_RECEIVED:
        if (t != SOTTO_SPQR_T_CT2)
            return SOTTO_OK;
        if ((e = sotto_spqr_ec_decoder_init(&s->dec, SOTTO_SPQR_BRAID_CT2_MSG)) != SOTTO_OK)
            return e;
        sotto_spqr_ec_add_chunk(&s->dec, m->chunk_index, m->chunk);
        s->state = SOTTO_BRAID_EK_SENT_CT1_RECEIVED;
        return SOTTO_OK;
    case SOTTO_BRAID_EK_SENT_CT1_RECEIVED: {
        uint8_t msg[SOTTO_SPQR_BRAID_CT2_MSG], ct[MLKEM768_CTBYTES], ss[MLKEM768_SSBYTES];
        if (t != SOTTO_SPQR_T_CT2)
            return SOTTO_OK;
        sotto_spqr_ec_add_chunk(&s->dec, m->chunk_index, m->chunk);
        if (!sotto_spqr_ec_decoded(&s->dec, msg, sizeof msg))
            return SOTTO_OK;
        /* EkSentCt1Received::recv_ct2: decapsulate, update, then check the MAC */
        memcpy(ct, s->ct1, MLKEM768_CT1BYTES);
        memcpy(ct + MLKEM768_CT1BYTES, msg, MLKEM768_CT2BYTES);
        sotto_mlkem768_dec(ss, ct, s->dk);
        e = epoch_secret(s, ss, secret);
        sodium_memzero(ss, sizeof ss);
        if (e == SOTTO_OK)
            e = sotto_spqr_auth_verify_ct(&s->auth, s->epoch, ct, sizeof ct,
                                          msg + MLKEM768_CT2BYTES);
        if (e == SOTTO_OK)
            e = sotto_spqr_ec_decoder_init(&s->dec, SOTTO_SPQR_BRAID_HDR_MSG);
        if (e != SOTTO_OK) {
            sodium_memzero(secret, 32);
            return e == SOTTO_ERR_BAD_MAC ? PQ_ERR : e;
        }
        *has_secret = 1;
        sodium_memzero(s->dk, sizeof s->dk);
        sodium_memzero(s->ct1, sizeof s->ct1);
        memset(&s->enc, 0, sizeof s->enc);
        s->epoch++;
        s->state = SOTTO_BRAID_NO_HEADER_RECEIVED;
        return SOTTO_OK;
    }
    case SOTTO_BRAID_NO_HEADER_RECEIVED: {
        uint8_t msg[SOTTO_SPQR_BRAID_HDR_MSG];
        if (t != SOTTO_SPQR_T_HDR)
            return SOTTO_OK;
        sotto_spqr_ec_add_chunk(&s->dec, m->chunk_index, m->chunk);
        if (!sotto_spqr_ec_decoded(&s->dec, msg, sizeof msg))
            return SOTTO_OK;
        e = sotto_spqr_auth_verify_hdr(&s->auth, s->epoch, msg, MLKEM768_HDRBYTES,
                                       msg + MLKEM768_HDRBYTES);
        if (e == SOTTO_OK)
            e = sotto_spqr_ec_decoder_init(&s->dec, MLKEM768_EK_T_BYTES);
        if (e != SOTTO_OK)
            return e == SOTTO_ERR_BAD_MAC ? PQ_ERR : e;
        memcpy(s->hdr, msg, MLKEM768_HDRBYTES);
        s->state = SOTTO_BRAID_HEADER_RECEIVED;
        return SOTTO_OK;
    }
    case SOTTO_BRAID_CT1_SAMPLED:
    case SOTTO_BRAID_CT1_ACKNOWLEDGED: {
        int ack = t == SOTTO_SPQR_T_EKCT1ACK;
        if (t != SOTTO_SPQR_T_EK && !ack)
            return SOTTO_OK;
        sotto_spqr_ec_add_chunk(&s->dec, m->chunk_index, m->chunk);
        if (s->state == SOTTO_BRAID_CT1_ACKNOWLEDGED)
            ack = 1;
        if (sotto_spqr_ec_decoded(&s->dec, s->ek, sizeof s->ek))
            return ek_decoded(s, ack);
        if (ack)
            s->state = SOTTO_BRAID_CT1_ACKNOWLEDGED;
        return SOTTO_OK;
    }
    case SOTTO_BRAID_EK_RECEIVED_CT1_SAMPLED:
        if (t == SOTTO_SPQR_T_CT1ACK || t == SOTTO_SPQR_T_EKCT1ACK)
            return send_ct2(s);
        return SOTTO_OK;
    default: /* KeysUnsampled, HeaderReceived, Ct2Sampled at this epoch: nothing */
        return SOTTO_OK;
    }
}

/* ---- top level (lib.rs) ---- */

sotto_err sotto_spqr_braid_init(sotto_spqr_braid *b, const uint8_t auth_key[32], int dir)
{
    memset(b, 0, sizeof *b);
    sotto_err e = sotto_spqr_chain_init(&b->chain, auth_key, dir);
    if (e == SOTTO_OK)
        e = sotto_spqr_auth_init(&b->scka.auth, auth_key, 32, 1);
    if (e == SOTTO_OK && dir == SOTTO_SPQR_BRAID_DIR_B2A)
        e = sotto_spqr_ec_decoder_init(&b->scka.dec, SOTTO_SPQR_BRAID_HDR_MSG);
    if (e != SOTTO_OK) {
        sotto_spqr_braid_wipe(b);
        return e;
    }
    b->scka.epoch = 1;
    b->scka.state = dir == SOTTO_SPQR_BRAID_DIR_A2B ? SOTTO_BRAID_KEYS_UNSAMPLED
                                                    : SOTTO_BRAID_NO_HEADER_RECEIVED;
    return SOTTO_OK;
}

sotto_err sotto_spqr_braid_new(sotto_spqr_braid **out, const uint8_t auth_key[32], int dir)
{
    sotto_spqr_braid *b = malloc(sizeof *b);
    *out = NULL;
    if (b == NULL)
        return SOTTO_ERR_NO_MEMORY;
    sotto_err e = sotto_spqr_braid_init(b, auth_key, dir);
    if (e != SOTTO_OK) {
        free(b);
        return e;
    }
    *out = b;
    return SOTTO_OK;
}

void sotto_spqr_braid_free(sotto_spqr_braid *b)
{
    sotto_spqr_braid_discard(b);
}

void sotto_spqr_braid_wipe(sotto_spqr_braid *b)
{
    sotto_spqr_chain_wipe(&b->chain);
    sodium_memzero(&b->scka, sizeof b->scka);
}

sotto_err sotto_spqr_braid_copy(sotto_spqr_braid *dst, const sotto_spqr_braid *src)
{
    dst->scka = src->scka;
    dst->delta = 0;
    sotto_err e = sotto_spqr_chain_copy(&dst->chain, &src->chain);
    if (e != SOTTO_OK)
        sodium_memzero(&dst->scka, sizeof dst->scka);
    return e;
}

uint64_t sotto_spqr_braid_epoch(const sotto_spqr_braid *b)
{
    return b->scka.epoch;
}

void sotto_spqr_braid_discard(sotto_spqr_braid *next)
{
    if (next == NULL)
        return;
    if (next->delta)
        sotto_spqr_chain_wipe(&next->chain); /* the rest was never filled in */
    else
        sotto_spqr_braid_wipe(next);
    free(next);
}

void sotto_spqr_braid_commit(sotto_spqr_braid *b, sotto_spqr_braid *next)
{
    if (next == NULL)
        return;
    if (next->delta) {
        b->scka.enc.next = next->scka.enc.next;
        sotto_spqr_chain_wipe(&b->chain);
        b->chain = next->chain;
        sodium_memzero(&next->chain, sizeof next->chain);
        free(next);
        return;
    }
    sotto_spqr_braid_wipe(b);
    *b = *next;
    sodium_memzero(next, sizeof *next);
    free(next);
}

static sotto_err heap_copy(const sotto_spqr_braid *b, sotto_spqr_braid **out)
{
    sotto_spqr_braid *w = malloc(sizeof *w);
    *out = NULL;
    if (w == NULL)
        return SOTTO_ERR_NO_MEMORY;
    sotto_err e = sotto_spqr_braid_copy(w, b);
    if (e != SOTTO_OK) {
        free(w);
        return e;
    }
    *out = w;
    return SOTTO_OK;
}

/* The delta form of next: the chain and the encoder position only. */
static sotto_err delta_copy(const sotto_spqr_braid *b, sotto_spqr_braid **out)
{
    sotto_spqr_braid *w = malloc(sizeof *w);
    *out = NULL;
    if (w == NULL)
        return SOTTO_ERR_NO_MEMORY;
    sotto_err e = sotto_spqr_chain_copy(&w->chain, &b->chain); /* wipes w->chain on error */
    if (e != SOTTO_OK) {
        free(w);
        return e;
    }
    w->delta = 1;
    w->scka.enc.next = b->scka.enc.next;
    *out = w;
    return SOTTO_OK;
}

sotto_err sotto_spqr_braid_send_prepare(const sotto_spqr_braid *b, sotto_spqr_braid **next,
                                        uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], size_t *msg_len,
                                        uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES], int *has_key)
{
    sotto_spqr_braid_msg m;
    uint8_t secret[32];
    int has_secret = 0, chunk = 0, delta = 0;
    uint8_t type = 0;
    sotto_spqr_braid *w;
    *msg_len = 0;
    *has_key = 0;
    memset(&m, 0, sizeof m);
    if (send_plain(b->scka.state, &type, &chunk))
        delta = !chunk || sotto_spqr_ec_chunk_peek(&b->scka.enc, (uint16_t)b->scka.enc.next,
                                                   m.chunk);
    sotto_err e = delta ? delta_copy(b, &w) : heap_copy(b, &w);
    if (e != SOTTO_OK) {
        *next = NULL;
        return e;
    }
    if (delta) { /* what sotto_spqr_scka_send does in these states */
        m.epoch = b->scka.epoch;
        m.type = type;
        if (chunk)
            m.chunk_index = (uint16_t)w->scka.enc.next++;
    } else {
        e = sotto_spqr_scka_send(&w->scka, &m, secret, &has_secret);
    }
    if (e == SOTTO_OK && has_secret)
        e = sotto_spqr_chain_add_epoch(&w->chain, m.epoch, secret);
    if (e == SOTTO_OK)
        e = sotto_spqr_chain_send_key(&w->chain, m.epoch - 1, &m.index, key);
    sodium_memzero(secret, sizeof secret);
    if (e == SOTTO_OK) {
        *msg_len = sotto_spqr_braid_msg_write(&m, msg);
        *has_key = 1;
        *next = w;
    } else {
        sodium_memzero(key, SOTTO_SPQR_BRAID_KEY_BYTES);
        sotto_spqr_braid_discard(w);
        *next = NULL;
    }
    return e;
}

sotto_err sotto_spqr_braid_recv_prepare(const sotto_spqr_braid *b, sotto_spqr_braid **next,
                                        const uint8_t *msg, size_t msg_len,
                                        uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES], int *has_key)
{
    sotto_spqr_braid_msg m;
    uint8_t secret[32];
    int has_secret = 0;
    sotto_spqr_braid *w;
    *has_key = 0;
    *next = NULL;
    /* lib.rs recv: empty is version 0, below our minimum; a later version
     * than ours is not for us: no key, nothing changes. */
    if (msg_len == 0 || msg[0] == 0)
        return PQ_ERR;
    if (msg[0] > SOTTO_SPQR_VERSION_V1)
        return SOTTO_OK;
    sotto_err e = sotto_spqr_braid_msg_parse(&m, msg, msg_len);
    if (e != SOTTO_OK)
        return e;
    e = recv_is_noop(&b->scka, &m) ? delta_copy(b, &w) : heap_copy(b, &w);
    if (e != SOTTO_OK)
        return e;
    if (!w->delta)
        e = sotto_spqr_scka_recv(&w->scka, &m, secret, &has_secret);
    if (e == SOTTO_OK && has_secret)
        e = sotto_spqr_chain_add_epoch(&w->chain, m.epoch, secret);
    sodium_memzero(secret, sizeof secret);
    if (e == SOTTO_OK && !(m.epoch == 1 && m.index == 0)) {
        e = sotto_spqr_chain_recv_key(&w->chain, m.epoch - 1, m.index, key);
        if (e == SOTTO_OK)
            *has_key = 1;
    }
    if (e == SOTTO_OK) {
        *next = w;
    } else {
        sodium_memzero(key, SOTTO_SPQR_BRAID_KEY_BYTES);
        sotto_spqr_braid_discard(w);
    }
    return e;
}

sotto_err sotto_spqr_braid_send(sotto_spqr_braid *b, uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX],
                                size_t *msg_len, uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES],
                                int *has_key)
{
    sotto_spqr_braid *next;
    sotto_err e = sotto_spqr_braid_send_prepare(b, &next, msg, msg_len, key, has_key);
    sotto_spqr_braid_commit(b, next);
    return e;
}

sotto_err sotto_spqr_braid_recv(sotto_spqr_braid *b, const uint8_t *msg, size_t msg_len,
                                uint8_t key[SOTTO_SPQR_BRAID_KEY_BYTES], int *has_key)
{
    sotto_spqr_braid *next;
    sotto_err e = sotto_spqr_braid_recv_prepare(b, &next, msg, msg_len, key, has_key);
    sotto_spqr_braid_commit(b, next);
    return e;
}
