/* sotto-load: the HTTP side. One registration body shared by every account,
 * deterministic names and secrets, the requests that set a connection up
 * (register, authenticate, upgrade) and the responses to them and to PUTs. */
#include "load.h"

uint64_t g_reg_ok, g_reg_taken;

/* ---------- registration body (one identity, reused by every account) ---------- */

static char *g_reg_keys; /* the JSON members after username/secret */

void b64_into(char *out, size_t cap, const uint8_t *p, size_t n)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

void make_reg_keys(void)
{
    uint8_t id_pub[32], id_priv[32], spk_pub[32], spk_priv[32];
    uint8_t ec[LOAD_EC_KEY_BYTES], kyb[LOAD_KYBER_KEY_BYTES];
    uint8_t ksk[KYBER1024_SECRETKEYBYTES], sig1[64], sig2[64], rnd[64];
    sotto_x25519_keypair(id_pub, id_priv);
    sotto_x25519_keypair(spk_pub, spk_priv);
    sotto_kyber1024_keypair(kyb + 1, ksk);
    kyb[0] = 0x08;
    ec[0] = 0x05;
    memcpy(ec + 1, spk_pub, 32);
    randombytes_buf(rnd, sizeof rnd);
    if (sotto_xeddsa_sign(sig1, id_priv, ec, sizeof ec, rnd) != 0)
        die("xeddsa failed");
    randombytes_buf(rnd, sizeof rnd);
    if (sotto_xeddsa_sign(sig2, id_priv, kyb, sizeof kyb, rnd) != 0)
        die("xeddsa failed");
    char idb[64], ecb[64], s1[100], s2[100];
    static char kb[2200];
    uint8_t idk[LOAD_EC_KEY_BYTES];
    idk[0] = 0x05;
    memcpy(idk + 1, id_pub, 32);
    b64_into(idb, sizeof idb, idk, sizeof idk);
    b64_into(ecb, sizeof ecb, ec, sizeof ec);
    b64_into(s1, sizeof s1, sig1, sizeof sig1);
    b64_into(s2, sizeof s2, sig2, sizeof sig2);
    b64_into(kb, sizeof kb, kyb, sizeof kyb);
    size_t cap = 4096;
    g_reg_keys = xmalloc(cap);
    int n = snprintf(g_reg_keys, cap,
                     "\"registrationId\":4242,\"identityKey\":\"%s\","
                     "\"signedPreKey\":{\"keyId\":1,\"publicKey\":\"%s\",\"signature\":\"%s\"},"
                     "\"pqLastResortPreKey\":{\"keyId\":1000,\"publicKey\":\"%s\",\"signature\":\"%s\"}}",
                     idb, ecb, s1, kb, s2);
    if (n < 0 || (size_t)n >= cap)
        die("registration body too long");
    sodium_memzero(id_priv, sizeof id_priv);
    sodium_memzero(spk_priv, sizeof spk_priv);
    sodium_memzero(ksk, sizeof ksk);
}

/* Deterministic name and secret, so a kept data dir can be reused. */
void account_name(char *out, size_t cap, uint32_t i)
{
    snprintf(out, cap, "%s%" PRIu32, O.prefix, i);
}
static void account_secret(char *out, size_t cap, uint32_t i)
{
    snprintf(out, cap, "load-secret-%s-%08" PRIu32 "-0123456789abcdef", O.prefix, i);
}

void auth_header(char *out, size_t cap, uint32_t account)
{
    char name[48], secret[64], cred[128], b64[200];
    account_name(name, sizeof name, account);
    account_secret(secret, sizeof secret, account);
    int n = snprintf(cred, sizeof cred, "%s.1:%s", name, secret);
    b64_into(b64, sizeof b64, (const uint8_t *)cred, (size_t)n);
    snprintf(out, cap, "Authorization: Basic %s\r\n", b64);
}

static void send_register(conn *c)
{
    char name[48], secret[64];
    account_name(name, sizeof name, c->account);
    account_secret(secret, sizeof secret, c->account);
    char body[4400];
    int bl = snprintf(body, sizeof body, "{\"username\":\"%s\",\"secret\":\"%s\",%s", name, secret,
                      g_reg_keys);
    if (bl < 0 || (size_t)bl >= sizeof body)
        die("registration body too long");
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", bl);
    wbuf_add(c, head, (size_t)hl);
    wbuf_add(c, body, (size_t)bl);
    c->inflight++;
    c->state = CS_REGISTER;
    flush(c);
}

static void send_auth(conn *c)
{
    char auth[300], req[512];
    auth_header(auth, sizeof auth, c->account);
    int n;
    if (c->is_ws) {
        uint8_t key[16];
        char kb[32];
        randombytes_buf(key, sizeof key);
        b64_into(kb, sizeof kb, key, sizeof key);
        n = snprintf(req, sizeof req,
                     "GET /v1/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "%s%s\r\n", kb, auth, O.pb ? "Sec-WebSocket-Protocol: sotto.pb\r\n" : "");
        c->state = CS_UPGRADE;
    } else if (O.health) {
        n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
        c->state = CS_AUTH;
    } else {
        n = snprintf(req, sizeof req, "GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n%s\r\n", auth);
        c->state = CS_AUTH;
    }
    wbuf_add(c, req, (size_t)n);
    c->inflight++;
    flush(c);
}

void after_handshake(conn *c)
{
    if (O.do_register && !c->is_ws && c->cl != NULL)
        send_register(c);
    else
        send_auth(c);
}

/* ---------- HTTP responses ---------- */

/* Returns the length of one whole response at the buffer's start (0: need
 * more), its status and where its body starts. */
static size_t http_frame(const char *b, size_t n, int *status, size_t *body_off, size_t *body_len)
{
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t hl = (size_t)(end - b) + 4;
    if (n < 12 || memcmp(b, "HTTP/1.1 ", 9) != 0) {
        *status = -1;
        return hl;
    }
    *status = atoi(b + 9);
    size_t cl = 0;
    for (const char *p = b; p < end; ) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            cl = (size_t)strtoul(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (*status == 101 || *status == 204)
        cl = 0;
    if (n - hl < cl)
        return 0;
    *body_off = hl;
    *body_len = cl;
    return hl + cl;
}

/* ---------- HTTP input ---------- */

/* A set-up step answered with a status it does not expect. */
static void fail_status(conn *c, const char *step, int status)
{
    char why[64];
    snprintf(why, sizeof why, "%s answered %d", step, status);
    conn_fail(c, why);
}

void http_input(conn *c)
{
    size_t off = 0;
    while (off < c->rlen && c->state != CS_FAILED) {
        if (c->state == CS_READY && c->is_ws)
            break;
        int status = 0;
        size_t bo = 0, bl = 0;
        size_t n = http_frame(c->rbuf + off, c->rlen - off, &status, &bo, &bl);
        if (n == 0)
            break;
        const char *body = c->rbuf + off + bo;
        off += n;
        if (c->inflight > 0)
            c->inflight--;
        switch (c->state) {
        case CS_REGISTER:
            if (status == 200)
                g_reg_ok++;
            else if (status == 409)
                g_reg_taken++;
            else {
                fail_status(c, "registration", status);
                return;
            }
            if (O.mode == MODE_REGISTER) {
                c->state = CS_DONE;
                setup_finished(c, true);
                conn_close(c);
                return;
            }
            send_auth(c);
            break;
        case CS_AUTH:
            if (status != 200) {
                fail_status(c, "authentication", status);
                return;
            }
            c->state = CS_READY;
            setup_finished(c, true);
            break;
        case CS_UPGRADE:
            if (status != 101) {
                fail_status(c, "upgrade", status);
                return;
            }
            c->state = CS_READY;
            if (O.ws_ping) /* the server answers, then is between client frames */
                ws_send_frame(c, 0x9, "", 0);
            setup_finished(c, true);
            break;
        case CS_READY:
            count_answer(c->cl, "submit", status, body, bl);
            break;
        default:
            break;
        }
    }
    if (c->state == CS_FAILED)
        return;
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->state == CS_READY && c->is_ws && c->rlen > 0)
        ws_input(c);
    else if (c->state == CS_READY && !c->is_ws && c->cl != NULL)
        send_puts(c->cl);
}
