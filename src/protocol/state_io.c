/* The session record as versioned bytes: SOTTO_STATE_FORMAT_VERSION, then a
 * sotto.state.Record protobuf (src/wire/state.proto). Loading checks every
 * length, count and ordering; anything off is SOTTO_ERR_INVALID_STATE. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <protobuf-c/protobuf-c.h>
#include "state.pb-c.h"
#include "protocol/internal.h"

#define ENTRY_BYTES 36                 /* BE32 || 32-byte key */
#define SPQR_HIST_MAX (2 * SOTTO_SPQR_TRIM_SIZE + SOTTO_SPQR_MAX_OOO_KEYS)

static void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b = { n, (uint8_t *)(uintptr_t)p };
    return b;
}

/* ---- save ---------------------------------------------------------------- */

/* Everything a packed state points at, so it can be wiped and freed. */
typedef struct state_pb {
    Sotto__State__State st;
    Sotto__State__Spqr spqr;
    Sotto__State__Pending pending;
    Sotto__State__ReceiverChain chains[SOTTO_MAX_RECEIVER_CHAINS];
    Sotto__State__ReceiverChain *chain_ptrs[SOTTO_MAX_RECEIVER_CHAINS];
    uint8_t *skipped[SOTTO_MAX_RECEIVER_CHAINS];
    size_t skipped_len[SOTTO_MAX_RECEIVER_CHAINS];
    uint32_t evicted[SOTTO_MAX_RECEIVER_CHAINS][2 * SOTTO_EVICTED_RANGES_MAX];
    uint8_t *hist;
    size_t hist_len;
    uint8_t *braid;
    size_t braid_len;
} state_pb;

static void state_pb_free(state_pb *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < SOTTO_MAX_RECEIVER_CHAINS; i++) {
        if (p->skipped[i] != NULL) {
            sodium_memzero(p->skipped[i], p->skipped_len[i]);
            free(p->skipped[i]);
        }
    }
    if (p->braid != NULL) {
        sodium_memzero(p->braid, p->braid_len);
        free(p->braid);
    }
    if (p->hist != NULL) {
        sodium_memzero(p->hist, p->hist_len);
        free(p->hist);
    }
    sodium_memzero(p, sizeof *p);
    free(p);
}

static sotto_err state_to_pb(state_pb **out, const sotto_state *s)
{
    state_pb *p = calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return SOTTO_ERR_NO_MEMORY;
    sotto__state__state__init(&p->st);
    sotto__state__spqr__init(&p->spqr);
    p->st.local_identity = bin(s->local_identity, SOTTO_EC_PUBLIC_BYTES);
    p->st.remote_identity = bin(s->remote_identity, SOTTO_EC_PUBLIC_BYTES);
    p->st.local_registration_id = s->local_registration_id;
    p->st.remote_registration_id = s->remote_registration_id;
    p->st.alice_base_key = bin(s->alice_base_key, SOTTO_EC_PUBLIC_BYTES);
    p->st.root_key = bin(s->root_key, SOTTO_KEY_BYTES);
    p->st.previous_counter = s->previous_counter;
    if (s->has_sender) {
        p->st.has_sender_private = p->st.has_sender_chain_key = 1;
        p->st.has_sender_index = p->st.has_sender_public = 1;
        p->st.sender_private = bin(s->sender_private, SOTTO_KEY_BYTES);
        p->st.sender_public = bin(s->sender_public, SOTTO_KEY_BYTES);
        p->st.sender_chain_key = bin(s->sender_chain_key, SOTTO_KEY_BYTES);
        p->st.sender_index = s->sender_index;
    }
    for (uint32_t i = 0; i < s->n_chains; i++) {
        const sotto_recv_chain *c = &s->chains[i];
        Sotto__State__ReceiverChain *pc = &p->chains[i];
        sotto__state__receiver_chain__init(pc);
        pc->ratchet_key = bin(c->ratchet_key, SOTTO_KEY_BYTES);
        pc->chain_key = bin(c->chain_key, SOTTO_KEY_BYTES);
        pc->index = c->index;
        if (c->n_keys > 0) {
            p->skipped_len[i] = (size_t)c->n_keys * ENTRY_BYTES;
            if ((p->skipped[i] = malloc(p->skipped_len[i])) == NULL) {
                state_pb_free(p);
                return SOTTO_ERR_NO_MEMORY;
            }
            for (uint32_t k = 0; k < c->n_keys; k++) {
                be32_put(p->skipped[i] + k * ENTRY_BYTES, c->keys[k].counter);
                memcpy(p->skipped[i] + k * ENTRY_BYTES + 4, c->keys[k].seed, SOTTO_KEY_BYTES);
            }
            pc->has_skipped = 1;
            pc->skipped = bin(p->skipped[i], p->skipped_len[i]);
        }
        for (uint32_t r = 0; r < c->n_evicted; r++) {
            p->evicted[i][2 * r] = c->evicted[r].lo;
            p->evicted[i][2 * r + 1] = c->evicted[r].hi;
        }
        pc->n_evicted = 2 * (size_t)c->n_evicted;
        pc->evicted = p->evicted[i];
        p->chain_ptrs[i] = pc;
    }
    p->st.n_receiver_chains = s->n_chains;
    if (s->n_dropped > 0) {
        p->st.has_dropped_chains = 1;
        p->st.dropped_chains = bin(&s->dropped[0][0], (size_t)s->n_dropped * SOTTO_KEY_BYTES);
    }
    p->st.receiver_chains = p->chain_ptrs;
    if (s->has_pending) {
        sotto__state__pending__init(&p->pending);
        p->pending.has_pre_key_id = s->pending.has_pre_key;
        p->pending.pre_key_id = s->pending.pre_key_id;
        p->pending.signed_pre_key_id = s->pending.signed_pre_key_id;
        p->pending.kyber_pre_key_id = s->pending.kyber_pre_key_id;
        p->pending.kyber_ciphertext = bin(s->pending.kyber_ciphertext, SOTTO_KYBER_CIPHERTEXT_BYTES);
        p->st.pending = &p->pending;
    }
    p->spqr.direction = s->spqr.dir;
    p->spqr.send_ctr = s->spqr.send_ctr;
    p->spqr.send_next = bin(s->spqr.send_next, SOTTO_SPQR_KEY_BYTES);
    p->spqr.recv_ctr = s->spqr.recv_ctr;
    p->spqr.recv_next = bin(s->spqr.recv_next, SOTTO_SPQR_KEY_BYTES);
    if (s->spqr.n_hist > 0) {
        p->hist_len = (size_t)s->spqr.n_hist * ENTRY_BYTES;
        if ((p->hist = malloc(p->hist_len)) == NULL) {
            state_pb_free(p);
            return SOTTO_ERR_NO_MEMORY;
        }
        for (uint32_t k = 0; k < s->spqr.n_hist; k++) {
            be32_put(p->hist + k * ENTRY_BYTES, s->spqr.hist[k].index);
            memcpy(p->hist + k * ENTRY_BYTES + 4, s->spqr.hist[k].key, SOTTO_SPQR_KEY_BYTES);
        }
        p->spqr.has_history = 1;
        p->spqr.history = bin(p->hist, p->hist_len);
    }
    p->st.spqr = &p->spqr;
    if (s->braid != NULL) {
        sotto_err e = sotto_spqr_braid_save(s->braid, &p->braid, &p->braid_len);
        if (e != SOTTO_OK) {
            state_pb_free(p);
            return e;
        }
        p->st.has_spqr_braid = 1;
        p->st.spqr_braid = bin(p->braid, p->braid_len);
    }
    *out = p;
    return SOTTO_OK;
}

sotto_err sotto_record_save(const sotto_session *s, uint8_t *buf, size_t cap, size_t *len)
{
    Sotto__State__Record rec;
    Sotto__State__Addresses addr;
    state_pb *cur = NULL, *arch[SOTTO_ARCHIVED_STATES_MAX] = { 0 };
    Sotto__State__State *arch_ptrs[SOTTO_ARCHIVED_STATES_MAX];
    sotto_err e = SOTTO_OK;

    sotto__state__record__init(&rec);
    if (s->has_trusted) {
        rec.has_trusted_identity = 1;
        rec.trusted_identity = bin(s->trusted_identity, SOTTO_EC_PUBLIC_BYTES);
    }
    if (s->has_addresses) {
        sotto__state__addresses__init(&addr);
        addr.local_service_id = bin(s->local_address, SOTTO_SERVICE_ID_BYTES);
        addr.local_device = s->local_address[SOTTO_SERVICE_ID_BYTES];
        addr.remote_service_id = bin(s->remote_address, SOTTO_SERVICE_ID_BYTES);
        addr.remote_device = s->remote_address[SOTTO_SERVICE_ID_BYTES];
        rec.addresses = &addr;
    }
    if (s->current != NULL) {
        if ((e = state_to_pb(&cur, s->current)) != SOTTO_OK)
            goto out;
        rec.current = &cur->st;
    }
    for (uint32_t i = 0; i < s->n_archived; i++) {
        if ((e = state_to_pb(&arch[i], s->archived[i])) != SOTTO_OK)
            goto out;
        arch_ptrs[i] = &arch[i]->st;
    }
    rec.n_archived = s->n_archived;
    rec.archived = arch_ptrs;
    size_t n = 1 + sotto__state__record__get_packed_size(&rec);
    *len = n;
    if (buf == NULL)
        goto out;
    if (n > cap) {
        e = SOTTO_ERR_BUFFER_TOO_SMALL;
        *len = 0;
        goto out;
    }
    buf[0] = SOTTO_STATE_FORMAT_VERSION;
    sotto__state__record__pack(&rec, buf + 1);
out:
    state_pb_free(cur);
    for (uint32_t i = 0; i < s->n_archived; i++)
        state_pb_free(arch[i]);
    return e;
}

/* ---- load ---------------------------------------------------------------- */

/* protobuf-c allocations for a loaded record hold keys: remember each size so
 * it can be wiped before it is freed. */
typedef struct wipe_hdr { size_t n; max_align_t align_; } wipe_hdr;

static void *wipe_alloc(void *ctx, size_t n)
{
    (void)ctx;
    if (n > SIZE_MAX - sizeof(wipe_hdr))
        return NULL;
    wipe_hdr *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->n = n;
    return h + 1;
}

static void wipe_free(void *ctx, void *p)
{
    (void)ctx;
    if (p == NULL)
        return;
    wipe_hdr *h = (wipe_hdr *)p - 1;
    sodium_memzero(p, h->n);
    free(h);
}

static int is_key33(ProtobufCBinaryData b)
{
    return b.len == SOTTO_EC_PUBLIC_BYTES && b.data[0] == SOTTO_KEY_TYPE_DJB;
}

static sotto_err state_from_pb(sotto_state **out, const Sotto__State__State *p)
{
    sotto_state *s;
    *out = NULL;
    if (!is_key33(p->local_identity) || !is_key33(p->remote_identity) ||
        !is_key33(p->alice_base_key) || p->root_key.len != SOTTO_KEY_BYTES || p->spqr == NULL ||
        p->n_receiver_chains > SOTTO_MAX_RECEIVER_CHAINS)
        return SOTTO_ERR_INVALID_STATE;
    int has_sender = p->has_sender_private;
    if (has_sender != p->has_sender_chain_key || has_sender != p->has_sender_index ||
        has_sender != p->has_sender_public ||
        (has_sender && (p->sender_private.len != SOTTO_KEY_BYTES ||
                        p->sender_public.len != SOTTO_KEY_BYTES ||
                        p->sender_chain_key.len != SOTTO_KEY_BYTES)))
        return SOTTO_ERR_INVALID_STATE;
    const Sotto__State__Spqr *q = p->spqr;
    if (q->direction > SOTTO_SPQR_B2A || q->send_next.len != SOTTO_SPQR_KEY_BYTES ||
        q->recv_next.len != SOTTO_SPQR_KEY_BYTES ||
        (q->has_history && (q->history.len % ENTRY_BYTES != 0 ||
                            q->history.len / ENTRY_BYTES > SPQR_HIST_MAX)))
        return SOTTO_ERR_INVALID_STATE;
    if (p->has_dropped_chains &&
        (p->dropped_chains.len % SOTTO_KEY_BYTES != 0 ||
         p->dropped_chains.len / SOTTO_KEY_BYTES > SOTTO_MAX_RECEIVER_CHAINS))
        return SOTTO_ERR_INVALID_STATE;
    if (p->pending != NULL &&
        (p->pending->kyber_ciphertext.len != SOTTO_KYBER_CIPHERTEXT_BYTES ||
         p->pending->kyber_ciphertext.data[0] != SOTTO_KEY_TYPE_KYBER1024))
        return SOTTO_ERR_INVALID_STATE;
    for (size_t i = 0; i < p->n_receiver_chains; i++) {
        const Sotto__State__ReceiverChain *c = p->receiver_chains[i];
        if (c->ratchet_key.len != SOTTO_KEY_BYTES || c->chain_key.len != SOTTO_KEY_BYTES ||
            (c->has_skipped && (c->skipped.len % ENTRY_BYTES != 0 ||
                                c->skipped.len / ENTRY_BYTES > SOTTO_MAX_MESSAGE_KEYS)) ||
            c->n_evicted % 2 != 0 || c->n_evicted > 2 * SOTTO_EVICTED_RANGES_MAX)
            return SOTTO_ERR_INVALID_STATE;
        /* Skipped counters ascend and lie below the chain index. */
        size_t nk = c->has_skipped ? c->skipped.len / ENTRY_BYTES : 0;
        for (size_t k = 0; k < nk; k++) {
            uint32_t ctr = be32_get(c->skipped.data + k * ENTRY_BYTES);
            if (ctr >= c->index || (k > 0 && ctr <= be32_get(c->skipped.data + (k - 1) * ENTRY_BYTES)))
                return SOTTO_ERR_INVALID_STATE;
        }
        for (size_t r = 0; r < c->n_evicted; r += 2) {
            if (c->evicted[r] > c->evicted[r + 1] || c->evicted[r + 1] >= c->index ||
                (r > 0 && c->evicted[r] <= c->evicted[r - 1]))
                return SOTTO_ERR_INVALID_STATE;
        }
    }
    if ((s = sotto_state_new()) == NULL)
        return SOTTO_ERR_NO_MEMORY;
    memcpy(s->local_identity, p->local_identity.data, SOTTO_EC_PUBLIC_BYTES);
    memcpy(s->remote_identity, p->remote_identity.data, SOTTO_EC_PUBLIC_BYTES);
    s->local_registration_id = p->local_registration_id;
    s->remote_registration_id = p->remote_registration_id;
    memcpy(s->alice_base_key, p->alice_base_key.data, SOTTO_EC_PUBLIC_BYTES);
    memcpy(s->root_key, p->root_key.data, SOTTO_KEY_BYTES);
    s->previous_counter = p->previous_counter;
    if (has_sender) {
        s->has_sender = 1;
        memcpy(s->sender_private, p->sender_private.data, SOTTO_KEY_BYTES);
        memcpy(s->sender_public, p->sender_public.data, SOTTO_KEY_BYTES);
        memcpy(s->sender_chain_key, p->sender_chain_key.data, SOTTO_KEY_BYTES);
        s->sender_index = p->sender_index;
    }
    for (size_t i = 0; i < p->n_receiver_chains; i++) {
        const Sotto__State__ReceiverChain *pc = p->receiver_chains[i];
        sotto_recv_chain *c = &s->chains[i];
        memcpy(c->ratchet_key, pc->ratchet_key.data, SOTTO_KEY_BYTES);
        memcpy(c->chain_key, pc->chain_key.data, SOTTO_KEY_BYTES);
        c->index = pc->index;
        s->n_chains = (uint32_t)i + 1;
        uint32_t nk = pc->has_skipped ? (uint32_t)(pc->skipped.len / ENTRY_BYTES) : 0;
        if (nk > 0) {
            if (sotto_chain_reserve(c, nk) != SOTTO_OK) {
                sotto_state_free(s);
                return SOTTO_ERR_NO_MEMORY;
            }
            for (uint32_t k = 0; k < nk; k++) {
                c->keys[k].counter = be32_get(pc->skipped.data + k * ENTRY_BYTES);
                memcpy(c->keys[k].seed, pc->skipped.data + k * ENTRY_BYTES + 4, SOTTO_KEY_BYTES);
            }
            c->n_keys = nk;
        }
        for (size_t r = 0; r < pc->n_evicted; r += 2) {
            c->evicted[r / 2].lo = pc->evicted[r];
            c->evicted[r / 2].hi = pc->evicted[r + 1];
        }
        c->n_evicted = (uint32_t)(pc->n_evicted / 2);
    }
    if (p->has_dropped_chains && p->dropped_chains.len > 0) {
        memcpy(&s->dropped[0][0], p->dropped_chains.data, p->dropped_chains.len);
        s->n_dropped = (uint32_t)(p->dropped_chains.len / SOTTO_KEY_BYTES);
    }
    if (p->pending != NULL) {
        s->has_pending = 1;
        s->pending.has_pre_key = p->pending->has_pre_key_id;
        s->pending.pre_key_id = p->pending->pre_key_id;
        s->pending.signed_pre_key_id = p->pending->signed_pre_key_id;
        s->pending.kyber_pre_key_id = p->pending->kyber_pre_key_id;
        memcpy(s->pending.kyber_ciphertext, p->pending->kyber_ciphertext.data,
               SOTTO_KYBER_CIPHERTEXT_BYTES);
    }
    s->spqr.dir = (uint8_t)q->direction;
    s->spqr.send_ctr = q->send_ctr;
    memcpy(s->spqr.send_next, q->send_next.data, SOTTO_SPQR_KEY_BYTES);
    s->spqr.recv_ctr = q->recv_ctr;
    memcpy(s->spqr.recv_next, q->recv_next.data, SOTTO_SPQR_KEY_BYTES);
    uint32_t nh = q->has_history ? (uint32_t)(q->history.len / ENTRY_BYTES) : 0;
    if (nh > 0) {
        s->spqr.hist = malloc((size_t)nh * sizeof *s->spqr.hist);
        if (s->spqr.hist == NULL) {
            sotto_state_free(s);
            return SOTTO_ERR_NO_MEMORY;
        }
        s->spqr.cap_hist = s->spqr.n_hist = nh;
        for (uint32_t k = 0; k < nh; k++) {
            s->spqr.hist[k].index = be32_get(q->history.data + k * ENTRY_BYTES);
            memcpy(s->spqr.hist[k].key, q->history.data + k * ENTRY_BYTES + 4, SOTTO_SPQR_KEY_BYTES);
        }
    }
    if (p->has_spqr_braid) {
        sotto_err e = SOTTO_ERR_NO_MEMORY;
        if ((s->braid = malloc(sizeof *s->braid)) == NULL ||
            (e = sotto_spqr_braid_load(s->braid, p->spqr_braid.data, p->spqr_braid.len)) != SOTTO_OK ||
            s->braid->chain.dir != s->spqr.dir) {
            sotto_state_free(s); /* frees the braid too */
            return e == SOTTO_OK ? SOTTO_ERR_INVALID_STATE : e;
        }
    }
    *out = s;
    return SOTTO_OK;
}

sotto_err sotto_record_load(sotto_session **out, const uint8_t *buf, size_t len)
{
    sotto_session *s = NULL;
    sotto_err e = SOTTO_ERR_INVALID_STATE;
    *out = NULL;
    if (len < 1 || len > SOTTO_STATE_MAX_BYTES || buf[0] < SOTTO_STATE_FORMAT_VERSION_MIN ||
        buf[0] > SOTTO_STATE_FORMAT_VERSION)
        return SOTTO_ERR_INVALID_STATE;
    ProtobufCAllocator al = { wipe_alloc, wipe_free, NULL };
    Sotto__State__Record *rec = sotto__state__record__unpack(&al, len - 1, buf + 1);
    if (rec == NULL)
        return SOTTO_ERR_INVALID_STATE;
    if (rec->n_archived > SOTTO_ARCHIVED_STATES_MAX ||
        (rec->has_trusted_identity && !is_key33(rec->trusted_identity)))
        goto out;
    if (rec->addresses != NULL &&
        (rec->addresses->local_service_id.len != SOTTO_SERVICE_ID_BYTES ||
         rec->addresses->remote_service_id.len != SOTTO_SERVICE_ID_BYTES ||
         rec->addresses->local_device > SOTTO_DEVICE_ID_MAX ||
         rec->addresses->remote_device > SOTTO_DEVICE_ID_MAX))
        goto out;
    if ((s = calloc(1, sizeof *s)) == NULL) {
        e = SOTTO_ERR_NO_MEMORY;
        goto out;
    }
    if (rec->has_trusted_identity) {
        s->has_trusted = 1;
        memcpy(s->trusted_identity, rec->trusted_identity.data, SOTTO_EC_PUBLIC_BYTES);
    }
    if (rec->addresses != NULL) {
        s->has_addresses = 1;
        memcpy(s->local_address, rec->addresses->local_service_id.data, SOTTO_SERVICE_ID_BYTES);
        s->local_address[SOTTO_SERVICE_ID_BYTES] = (uint8_t)rec->addresses->local_device;
        memcpy(s->remote_address, rec->addresses->remote_service_id.data, SOTTO_SERVICE_ID_BYTES);
        s->remote_address[SOTTO_SERVICE_ID_BYTES] = (uint8_t)rec->addresses->remote_device;
    }
    if (rec->current != NULL && (e = state_from_pb(&s->current, rec->current)) != SOTTO_OK)
        goto out;
    for (size_t i = 0; i < rec->n_archived; i++) {
        if ((e = state_from_pb(&s->archived[i], rec->archived[i])) != SOTTO_OK)
            goto out;
        s->n_archived = (uint32_t)i + 1;
    }
    *out = s;
    s = NULL;
    e = SOTTO_OK;
out:
    if (s != NULL)
        sotto_session_free(s);
    /* The unpacked copy holds keys too. */
    sotto__state__record__free_unpacked(rec, &al);
    return e;
}
