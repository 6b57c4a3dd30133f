/* sottod disclose: every held item is printed; ciphertext never is. */
#include "test_store_util.h"

#include "disclose.h"

#define MARKER "PLAINTEXT-LOOKING-CIPHERTEXT-MARKER-42"

typedef struct {
    char *dir;
    sotto_store *s;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tdir_make();
    assert_int_equal(sotto_store_open(&f->s, f->dir), SOTTO_STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sotto_store_close(f->s);
    tdir_remove(f->dir);
    free(f);
    return 0;
}

/* Runs disclose into a string (caller frees). */
static char *disclose(sotto_store *s, const char *name, sotto_store_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    *err = sotto_disclose_account(s, name, out);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void fp_hex(char out[17], const uint8_t *key, size_t len)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, key, len);
    sodium_bin2hex(out, 17, h, 8);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("disclosure lacks \"%s\":\n%s", needle, hay);
}

static void test_disclose_items(void **state)
{
    fx *f = *state;
    const int64_t day = SOTTO_STORE_CREATED_GRANULARITY_SECONDS;
    int64_t now = 1767225600 + 13 * 3600 + 1234; /* 2026-01-01 13:20:34 UTC */
    sotto_store_set_clock(f->s, tclock, &now);

    tkeys k;
    tkeys_make(&k, 3, 2, 70);
    sotto_store_prekeys p = tkeys_all(&k);
    uint8_t a[16], b[16], secret[32];
    tsecret(secret, "Zoe");
    assert_int_equal(sotto_store_create_account(f->s, a, "Zoe", secret, 32, 4321, k.identity, &p),
                     SOTTO_STORE_OK);
    uint32_t d2 = tadd_device(f->s, a, "zoe-2");
    tcreate(f->s, "yann", 0, 0, b);

    /* yann writes to both of zoe's devices; zoe writes to yann. */
    sotto_store_outgoing to_zoe[2] = {
        {.device_id = 1, .type = 3, .body = (const uint8_t *)MARKER, .body_len = sizeof MARKER},
        {.device_id = d2, .type = 1, .body = (const uint8_t *)MARKER, .body_len = 5},
    };
    sotto_store_outgoing to_yann = {.device_id = 1, .type = 1, .body = (const uint8_t *)MARKER,
                                    .body_len = sizeof MARKER};
    sotto_store_submission subs[2];
    memset(subs, 0, sizeof subs);
    memcpy(subs[0].recipient, a, 16);
    subs[0].has_sender = 1;
    memcpy(subs[0].sender, b, 16);
    subs[0].sender_device = 1;
    subs[0].envelopes = to_zoe;
    subs[0].count = 2;
    memcpy(subs[1].recipient, b, 16);
    subs[1].has_sender = 1;
    memcpy(subs[1].sender, a, 16);
    subs[1].sender_device = d2;
    subs[1].envelopes = &to_yann;
    subs[1].count = 1;
    assert_int_equal(sotto_store_enqueue_batch(f->s, subs, 2), SOTTO_STORE_OK);
    assert_int_equal(subs[0].result, SOTTO_STORE_OK);
    assert_int_equal(subs[1].result, SOTTO_STORE_OK);

    sotto_store_err err;
    char *txt = disclose(f->s, "ZOE", &err);
    assert_int_equal(err, SOTTO_STORE_OK);

    char u[SOTTO_STORE_UUID_STRING_BYTES], fp[17], line[160];
    sotto_store_uuid_format(u, a);
    snprintf(line, sizeof line, "uuid: %s", u);
    assert_contains(txt, line);
    assert_contains(txt, "username: zoe");
    assert_int_equal(now / day * day, 1767225600);
    assert_contains(txt, "created: 2026-01-01 UTC");
    fp_hex(fp, k.identity, sizeof k.identity);
    snprintf(line, sizeof line, "identity key: sha256 %s", fp);
    assert_contains(txt, line);
    assert_contains(txt, "  device 1\n");
    snprintf(line, sizeof line, "  device %u\n", d2);
    assert_contains(txt, line);
    assert_contains(txt, "registration id: 4321");
    assert_contains(txt, "registration id: 7");
    assert_contains(txt, "Argon2id hash only");
    fp_hex(fp, k.spk.key, sizeof k.spk.key);
    snprintf(line, sizeof line, "signed prekey: id %u, sha256 %s", k.spk.id, fp);
    assert_contains(txt, line);
    fp_hex(fp, k.lrk.key, sizeof k.lrk.key);
    snprintf(line, sizeof line, "last-resort Kyber prekey: id %u, sha256 %s", k.lrk.id, fp);
    assert_contains(txt, line);
    assert_contains(txt, "one-time EC prekeys: 3");
    assert_contains(txt, "one-time Kyber prekeys: 2");
    for (size_t i = 0; i < 3; i++) {
        fp_hex(fp, k.ec[i].key, sizeof k.ec[i].key);
        snprintf(line, sizeof line, "EC prekey id %u, sha256 %s", k.ec[i].id, fp);
        assert_contains(txt, line);
    }
    for (size_t i = 0; i < 2; i++) {
        fp_hex(fp, k.kem[i].key, sizeof k.kem[i].key);
        snprintf(line, sizeof line, "Kyber prekey id %u, sha256 %s", k.kem[i].id, fp);
        assert_contains(txt, line);
    }
    /* Queued for zoe: sizes, hour, sender. */
    snprintf(line, sizeof line, "queued envelopes: 1 (%zu ciphertext bytes)", sizeof MARKER);
    assert_contains(txt, line);
    assert_contains(txt, "queued envelopes: 1 (5 ciphertext bytes)");
    sotto_store_envelope *e = NULL;
    size_t n = 0;
    assert_int_equal(sotto_store_fetch_queue(f->s, a, 1, 0, 1, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(n, 1);
    char idhex[33];
    sodium_bin2hex(idhex, sizeof idhex, e[0].id, 16);
    sotto_store_envelopes_free(e, n);
    char yu[SOTTO_STORE_UUID_STRING_BYTES];
    sotto_store_uuid_format(yu, b);
    snprintf(line, sizeof line,
             "envelope %s: queued 2026-01-01 13:00 UTC, type 3, %zu bytes, sender %s device 1",
             idhex, sizeof MARKER, yu);
    assert_contains(txt, line);
    /* Written by zoe, waiting for yann. */
    snprintf(line, sizeof line, "from device %u to %s device 1, queued 2026-01-01 13:00 UTC",
             d2, yu);
    assert_contains(txt, line);
    assert_contains(txt, "not held:");

    /* Never ciphertext: not raw, not in hex, not even a prefix. */
    assert_null(strstr(txt, "PLAINTEXT"));
    char mhex[2 * sizeof MARKER + 1];
    sodium_bin2hex(mhex, sizeof mhex, (const uint8_t *)MARKER, 8);
    assert_null(strstr(txt, mhex));
    /* Nor the secret hash, nor whole public keys. */
    assert_null(strstr(txt, "$argon2id$"));
    char khex[2 * SOTTO_STORE_EC_KEY_BYTES + 1];
    sodium_bin2hex(khex, sizeof khex, k.identity, sizeof k.identity);
    assert_null(strstr(txt, khex));
    free(txt);

    /* yann's disclosure shows zoe's envelope as queued for yann, and nothing
     * of zoe's keys. */
    txt = disclose(f->s, "yann", &err);
    assert_int_equal(err, SOTTO_STORE_OK);
    snprintf(line, sizeof line, "sender %s device %u", u, d2);
    assert_contains(txt, line);
    fp_hex(fp, k.identity, sizeof k.identity);
    assert_null(strstr(txt, fp));
    assert_null(strstr(txt, "PLAINTEXT"));
    free(txt);

    /* After delivery (ack), the sender field is gone from the disclosure. */
    assert_int_equal(sotto_store_fetch_queue(f->s, b, 1, 0, 1, &e, &n), SOTTO_STORE_OK);
    assert_int_equal(sotto_store_ack(f->s, b, 1, (const uint8_t(*)[16])e[0].id, 1, NULL),
                     SOTTO_STORE_OK);
    sotto_store_envelopes_free(e, n);
    txt = disclose(f->s, "yann", &err);
    assert_int_equal(err, SOTTO_STORE_OK);
    assert_null(strstr(txt, line));
    assert_contains(txt, "queued envelopes: 0 (0 ciphertext bytes)");
    free(txt);
    txt = disclose(f->s, "zoe", &err);
    assert_contains(txt, "undelivered envelopes sent by this account"
                         " (sender field held until delivery):\n  none\n");
    free(txt);
    tkeys_free(&k);
}

static void test_disclose_errors(void **state)
{
    fx *f = *state;
    sotto_store_err err;
    char *txt = disclose(f->s, "nobody", &err);
    assert_int_equal(err, SOTTO_STORE_ERR_NOT_FOUND);
    free(txt);
    txt = disclose(f->s, "no body", &err);
    assert_int_equal(err, SOTTO_STORE_ERR_INVALID_USERNAME);
    free(txt);
    assert_int_equal(sotto_disclose_account(f->s, "x", NULL), SOTTO_STORE_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disclose_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disclose_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
