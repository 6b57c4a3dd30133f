/* Seed corpora of the SPQR fuzz targets, from a real braid exchange.
 *
 * With SOTTO_WRITE_CORPUS=1 in the environment this writes
 * fuzz/corpus/fuzz_spqr_braid_recv/ (payload sequences, every message type),
 * fuzz/corpus/fuzz_spqr_braid_load/ (saved braids in several states) and
 * fuzz/corpus/fuzz_spqr_erasure/ (chunk records). Without it, it checks
 * that every checked-in saved braid still loads, saves back to the same
 * bytes and can send: a change to the saved format that strands old states
 * fails here. */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <sodium.h>
#include "sotto/sotto.h"
#include "protocol/spqr.h"
#include "protocol/spqr_braid.h"

#define CORPUS_MAX_FILE (1u << 20)
#define EXCHANGE_ROUNDS 120

static const uint8_t AUTH[32] = { 7 };

static const char *srcdir(void)
{
    const char *d = getenv("SOTTO_SOURCE_DIR");
    return d ? d : SOTTO_SOURCE_DIR;
}

static void write_file(const char *target, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s", srcdir(), target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s/%s", srcdir(), target, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void save_state(const sotto_spqr_braid *b, const char *name)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_int_equal(sotto_spqr_braid_save(b, &buf, &n), SOTTO_OK);
    write_file("fuzz_spqr_braid_load", name, buf, n);
    free(buf);
}

static void write_corpus(void)
{
    static sotto_spqr_braid a, b;
    static uint8_t seq[8][4096];
    size_t seq_len[8] = { 0 };
    uint8_t msg[SOTTO_SPQR_BRAID_MSG_MAX], key[32];
    size_t len;
    int has;
    char name[64];
    assert_int_equal(sotto_spqr_braid_init(&a, AUTH, SOTTO_SPQR_BRAID_DIR_A2B), SOTTO_OK);
    assert_int_equal(sotto_spqr_braid_init(&b, AUTH, SOTTO_SPQR_BRAID_DIR_B2A), SOTTO_OK);
    save_state(&a, "a_init");
    save_state(&b, "b_init");
    for (int r = 0; r < EXCHANGE_ROUNDS; r++) {
        /* one payload sequence per message type A or B sent: A's go first */
        for (int side = 0; side < 2; side++) {
            sotto_spqr_braid *from = side ? &b : &a, *to = side ? &a : &b;
            assert_int_equal(sotto_spqr_braid_send(from, msg, &len, key, &has), SOTTO_OK);
            assert_int_equal(sotto_spqr_braid_recv(to, msg, len, key, &has), SOTTO_OK);
            sotto_spqr_braid_msg m;
            assert_int_equal(sotto_spqr_braid_msg_parse(&m, msg, len), SOTTO_OK);
            size_t *sl = &seq_len[m.type];
            if (*sl + len + 2 + SOTTO_SPQR_BRAID_MSG_MAX < sizeof seq[0] && r % 3 == side) {
                if (*sl > 0) {
                    seq[m.type][(*sl)++] = 0xFF;
                    seq[m.type][(*sl)++] = 0xFE;
                }
                memcpy(seq[m.type] + *sl, msg, len);
                *sl += len;
            }
        }
        if (r % 10 == 3) {
            snprintf(name, sizeof name, "a_round%03d_state%d", r, a.scka.state);
            save_state(&a, name);
            snprintf(name, sizeof name, "b_round%03d_state%d", r, b.scka.state);
            save_state(&b, name);
        }
    }
    for (int t = 0; t < 8; t++) {
        if (seq_len[t] == 0)
            continue;
        snprintf(name, sizeof name, "type%d", t);
        write_file("fuzz_spqr_braid_recv", name, seq[t], seq_len[t]);
    }
    /* erasure: header || MAC (96), ct2 || MAC (160), t (1152) from mixed chunks */
    static const size_t sizes[] = { 96, 160, 1152 };
    for (size_t s = 0; s < 3; s++) {
        static uint8_t rec[2 + 40 * 34], m[1152];
        sotto_spqr_ec_encoder e;
        randombytes_buf(m, sizes[s]);
        assert_int_equal(sotto_spqr_ec_encoder_init(&e, m, sizes[s]), SOTTO_OK);
        size_t n = 0;
        rec[n++] = (uint8_t)(sizes[s] >> 8);
        rec[n++] = (uint8_t)sizes[s];
        for (uint16_t i = 0; i < sizes[s] / 32; i++) {
            uint16_t idx = (uint16_t)(i % 2 ? i : i + 40);
            rec[n++] = (uint8_t)(idx >> 8);
            rec[n++] = (uint8_t)idx;
            sotto_spqr_ec_chunk_at(&e, idx, rec + n);
            n += 32;
        }
        snprintf(name, sizeof name, "len%zu", sizes[s]);
        write_file("fuzz_spqr_erasure", name, rec, n);
    }
    sotto_spqr_braid_wipe(&a);
    sotto_spqr_braid_wipe(&b);
}

/* Every checked-in saved braid loads, saves back identically and sends. */
static void check_states(void)
{
    char dir[4096], path[4096 + 256 + 2];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/fuzz_spqr_braid_load", srcdir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    int count = 0;
    static uint8_t buf[CORPUS_MAX_FILE];
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        sotto_spqr_braid b;
        assert_int_equal(sotto_spqr_braid_load(&b, buf, n), SOTTO_OK);
        uint8_t *out = NULL, msg[SOTTO_SPQR_BRAID_MSG_MAX], key[32];
        size_t on = 0, len;
        int has;
        assert_int_equal(sotto_spqr_braid_save(&b, &out, &on), SOTTO_OK);
        assert_int_equal(on, n);
        assert_memory_equal(out, buf, n);
        free(out);
        assert_int_equal(sotto_spqr_braid_send(&b, msg, &len, key, &has), SOTTO_OK);
        sotto_spqr_braid_wipe(&b);
        count++;
    }
    closedir(d);
    print_message("%d saved braids load\n", count);
    assert_true(count >= 4);
}

static void test_corpus(void **state)
{
    (void)state;
    const char *w = getenv("SOTTO_WRITE_CORPUS");
    if (w != NULL && strcmp(w, "1") == 0)
        write_corpus();
    check_states();
}

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
