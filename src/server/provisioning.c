/* sottod: provisioning mailboxes and link tokens (see provisioning.h). */
#include "provisioning.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define TOKEN_HASH_BYTES 32u

typedef struct mailbox {
    bool used;
    uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES];
    uint64_t expires_ms;
    uint8_t *msg;             /* NULL until put */
    size_t msg_len;
    void *waiter;
    uint64_t wait_until_ms;
} mailbox;

typedef enum { TOK_FREE = 0, TOK_READY, TOK_CLAIMED } tok_state;

typedef struct token {
    uint8_t state;            /* tok_state */
    bool revoked;             /* its device was removed while it was claimed */
    uint8_t hash[TOKEN_HASH_BYTES];
    uint8_t account[SOTTO_STORE_UUID_BYTES];
    uint32_t device;          /* the device that asked for it */
    uint64_t expires_ms;
} token;

struct sotto_prov {
    mailbox box[SOTTOD_PROV_MAX_MAILBOXES];
    size_t n_boxes;
    token tok[SOTTOD_LINK_MAX_TOKENS];
    size_t n_tokens;
    uint8_t hash_key[crypto_generichash_KEYBYTES]; /* per process: hashes are useless elsewhere */
};

sotto_prov *sotto_prov_new(void)
{
    sotto_prov *p = calloc(1, sizeof *p);
    if (p != NULL)
        randombytes_buf(p->hash_key, sizeof p->hash_key);
    return p;
}

static void box_clear(sotto_prov *p, mailbox *b)
{
    if (b->msg != NULL) {
        sodium_memzero(b->msg, b->msg_len);
        free(b->msg);
    }
    memset(b, 0, sizeof *b);
    p->n_boxes--;
}

static void tok_clear(sotto_prov *p, token *t)
{
    sodium_memzero(t, sizeof *t);
    p->n_tokens--;
}

void sotto_prov_free(sotto_prov *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < SOTTOD_PROV_MAX_MAILBOXES; i++)
        if (p->box[i].used)
            box_clear(p, &p->box[i]);
    sodium_memzero(p, sizeof *p);
    free(p);
}

/* A live mailbox by address (the address is a bearer capability, but not a
 * key: a lookup that branches on it tells an attacker nothing he did not
 * send). */
static mailbox *find(sotto_prov *p, uint64_t now_ms, const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES])
{
    for (size_t i = 0; i < SOTTOD_PROV_MAX_MAILBOXES; i++) {
        mailbox *b = &p->box[i];
        if (b->used && now_ms < b->expires_ms &&
            sodium_memcmp(b->addr, addr, SOTTOD_PROV_ADDRESS_BYTES) == 0)
            return b;
    }
    return NULL;
}

sotto_prov_status sotto_prov_open(sotto_prov *p, uint64_t now_ms,
                                  uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES])
{
    memset(addr, 0, SOTTOD_PROV_ADDRESS_BYTES);
    if (p->n_boxes >= SOTTOD_PROV_MAX_MAILBOXES)
        return SOTTO_PROV_FULL;
    for (size_t i = 0; i < SOTTOD_PROV_MAX_MAILBOXES; i++) {
        mailbox *b = &p->box[i];
        if (b->used)
            continue;
        b->used = true;
        randombytes_buf(b->addr, sizeof b->addr);
        b->expires_ms = now_ms + SOTTOD_PROV_TTL_MS;
        memcpy(addr, b->addr, SOTTOD_PROV_ADDRESS_BYTES);
        p->n_boxes++;
        return SOTTO_PROV_OK;
    }
    return SOTTO_PROV_FULL;
}

sotto_prov_status sotto_prov_put(sotto_prov *p, uint64_t now_ms,
                                 const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES],
                                 const uint8_t *msg, size_t len, void **waiter)
{
    if (waiter != NULL)
        *waiter = NULL;
    if (len == 0 || len > SOTTOD_PROV_MAX_MESSAGE)
        return SOTTO_PROV_TOO_LARGE;
    mailbox *b = find(p, now_ms, addr);
    if (b == NULL)
        return SOTTO_PROV_NOT_FOUND;
    if (b->msg != NULL)
        return SOTTO_PROV_TAKEN;
    uint8_t *m = malloc(len);
    if (m == NULL)
        return SOTTO_PROV_NO_MEMORY;
    memcpy(m, msg, len);
    b->msg = m;
    b->msg_len = len;
    if (waiter != NULL)
        *waiter = b->waiter;
    b->waiter = NULL;
    return SOTTO_PROV_OK;
}

sotto_prov_status sotto_prov_take(sotto_prov *p, uint64_t now_ms,
                                  const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES],
                                  uint8_t **msg, size_t *len)
{
    *msg = NULL;
    *len = 0;
    mailbox *b = find(p, now_ms, addr);
    if (b == NULL)
        return SOTTO_PROV_NOT_FOUND;
    if (b->msg == NULL)
        return SOTTO_PROV_EMPTY;
    *msg = b->msg;
    *len = b->msg_len;
    b->msg = NULL;
    b->msg_len = 0;
    box_clear(p, b);
    return SOTTO_PROV_OK;
}

sotto_prov_status sotto_prov_wait(sotto_prov *p, uint64_t now_ms,
                                  const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES], void *waiter,
                                  uint64_t until_ms)
{
    mailbox *b = find(p, now_ms, addr);
    if (b == NULL)
        return SOTTO_PROV_NOT_FOUND;
    if (b->msg != NULL)
        return SOTTO_PROV_TAKEN;
    if (b->waiter != NULL)
        return SOTTO_PROV_WAITING;
    b->waiter = waiter;
    b->wait_until_ms = until_ms;
    return SOTTO_PROV_OK;
}

bool sotto_prov_has_waiter(sotto_prov *p, uint64_t now_ms,
                           const uint8_t addr[SOTTOD_PROV_ADDRESS_BYTES])
{
    const mailbox *b = find(p, now_ms, addr);
    return b != NULL && b->waiter != NULL;
}

void sotto_prov_unwait(sotto_prov *p, void *waiter)
{
    for (size_t i = 0; i < SOTTOD_PROV_MAX_MAILBOXES; i++)
        if (p->box[i].used && p->box[i].waiter == waiter)
            p->box[i].waiter = NULL;
}

void sotto_prov_sweep(sotto_prov *p, uint64_t now_ms, sotto_prov_waiter_fn fn, void *ctx)
{
    for (size_t i = 0; i < SOTTOD_PROV_MAX_MAILBOXES; i++) {
        mailbox *b = &p->box[i];
        if (!b->used)
            continue;
        void *w = b->waiter;
        if (now_ms >= b->expires_ms) {
            b->waiter = NULL;
            box_clear(p, b);
            if (w != NULL && fn != NULL)
                (void)fn(ctx, w, SOTTO_PROV_EXPIRED);
        } else if (w != NULL && now_ms >= b->wait_until_ms) {
            b->waiter = NULL;
            if (fn != NULL)
                (void)fn(ctx, w, SOTTO_PROV_TIMEOUT);
        } else if (w != NULL && fn != NULL && !fn(ctx, w, SOTTO_PROV_TICK)) {
            b->waiter = NULL;
        }
    }
    for (size_t i = 0; i < SOTTOD_LINK_MAX_TOKENS; i++) {
        token *t = &p->tok[i];
        /* A claimed token waits for its attempt to finish (it may succeed). */
        if (t->state == TOK_READY && now_ms >= t->expires_ms)
            tok_clear(p, t);
    }
}

size_t sotto_prov_mailboxes(const sotto_prov *p)
{
    return p->n_boxes;
}

/* ---- tokens ---- */

static void token_hash(const sotto_prov *p, const uint8_t token_in[SOTTOD_LINK_TOKEN_BYTES],
                       uint8_t out[TOKEN_HASH_BYTES])
{
    crypto_generichash(out, TOKEN_HASH_BYTES, token_in, SOTTOD_LINK_TOKEN_BYTES, p->hash_key,
                       sizeof p->hash_key);
}

sotto_prov_status sotto_prov_token_new(sotto_prov *p, uint64_t now_ms,
                                       const uint8_t account[SOTTO_STORE_UUID_BYTES],
                                       uint32_t device, uint8_t token_out[SOTTOD_LINK_TOKEN_BYTES])
{
    memset(token_out, 0, SOTTOD_LINK_TOKEN_BYTES);
    size_t mine = 0, slot = SOTTOD_LINK_MAX_TOKENS;
    for (size_t i = 0; i < SOTTOD_LINK_MAX_TOKENS; i++) {
        token *t = &p->tok[i];
        if (t->state == TOK_READY && now_ms >= t->expires_ms) {
            tok_clear(p, t);
        }
        if (t->state == TOK_FREE) {
            if (slot == SOTTOD_LINK_MAX_TOKENS)
                slot = i;
        } else if (memcmp(t->account, account, SOTTO_STORE_UUID_BYTES) == 0) {
            mine++;
        }
    }
    if (mine >= SOTTOD_LINK_MAX_PER_ACCOUNT || slot == SOTTOD_LINK_MAX_TOKENS)
        return SOTTO_PROV_FULL;
    token *t = &p->tok[slot];
    randombytes_buf(token_out, SOTTOD_LINK_TOKEN_BYTES);
    token_hash(p, token_out, t->hash);
    memcpy(t->account, account, SOTTO_STORE_UUID_BYTES);
    t->device = device;
    t->revoked = false;
    t->expires_ms = now_ms + SOTTOD_LINK_TOKEN_TTL_MS;
    t->state = TOK_READY;
    p->n_tokens++;
    return SOTTO_PROV_OK;
}

sotto_prov_status sotto_prov_token_claim(sotto_prov *p, uint64_t now_ms,
                                         const uint8_t token_in[SOTTOD_LINK_TOKEN_BYTES],
                                         uint8_t account[SOTTO_STORE_UUID_BYTES], size_t *slot)
{
    memset(account, 0, SOTTO_STORE_UUID_BYTES);
    *slot = SOTTOD_LINK_MAX_TOKENS;
    uint8_t h[TOKEN_HASH_BYTES];
    token_hash(p, token_in, h);
    /* Every slot is compared (no early exit on a match). */
    size_t found = SOTTOD_LINK_MAX_TOKENS;
    for (size_t i = 0; i < SOTTOD_LINK_MAX_TOKENS; i++) {
        bool eq = sodium_memcmp(p->tok[i].hash, h, TOKEN_HASH_BYTES) == 0;
        if (eq && p->tok[i].state != TOK_FREE)
            found = i;
    }
    sodium_memzero(h, sizeof h);
    if (found == SOTTOD_LINK_MAX_TOKENS)
        return SOTTO_PROV_NOT_FOUND;
    token *t = &p->tok[found];
    if (t->state != TOK_READY || now_ms >= t->expires_ms)
        return SOTTO_PROV_NOT_FOUND;
    t->state = TOK_CLAIMED;
    memcpy(account, t->account, SOTTO_STORE_UUID_BYTES);
    *slot = found;
    return SOTTO_PROV_OK;
}

void sotto_prov_token_finish(sotto_prov *p, size_t slot, bool used)
{
    if (slot >= SOTTOD_LINK_MAX_TOKENS || p->tok[slot].state != TOK_CLAIMED)
        return;
    if (used || p->tok[slot].revoked)
        tok_clear(p, &p->tok[slot]);
    else
        p->tok[slot].state = TOK_READY;
}

void sotto_prov_token_revoke(sotto_prov *p, const uint8_t account[SOTTO_STORE_UUID_BYTES],
                             uint32_t device)
{
    for (size_t i = 0; i < SOTTOD_LINK_MAX_TOKENS; i++) {
        token *t = &p->tok[i];
        if (t->state == TOK_FREE || t->device != device ||
            memcmp(t->account, account, SOTTO_STORE_UUID_BYTES) != 0)
            continue;
        if (t->state == TOK_READY)
            tok_clear(p, t);
        else
            t->revoked = true;    /* its attempt is in flight: gone when it ends */
    }
}

size_t sotto_prov_tokens(const sotto_prov *p)
{
    return p->n_tokens;
}
