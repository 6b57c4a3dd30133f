/* AES-256-GCM-SIV: every AES-256 vector of RFC 8452 (Appendix C.2, and the
 * counter-wrap vectors of C.3), the POLYVAL example of Appendix A, libsignal's
 * own known answer (Aes256GcmSivTests.java), tamper refusal, in-place use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "sotto/sotto.h"
#include "crypto/gcm_siv.h"

typedef struct vec { const char *key, *nonce, *ad, *pt, *ct; } vec;

#define K1 "0100000000000000000000000000000000000000000000000000000000000000"
#define N1 "030000000000000000000000"
static const vec VECTORS[] = {
    /* RFC 8452 C.2 */
    { K1, N1, "", "", "07f5f4169bbf55a8400cd47ea6fd400f" },
    { K1, N1, "", "0100000000000000", "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28" },
    { K1, N1, "", "010000000000000000000000", "9aab2aeb3faa0a34aea8e2b18ca50da9ae6559e48fd10f6e5c9ca17e" },
    { K1, N1, "", "01000000000000000000000000000000",
      "85a01b63025ba19b7fd3ddfc033b3e76c9eac6fa700942702e90862383c6c366" },
    { K1, N1, "", "0100000000000000000000000000000002000000000000000000000000000000",
      "4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027fe819e63abcd020b006a976397632eb5d" },
    { K1, N1, "",
      "010000000000000000000000000000000200000000000000000000000000000003000000000000000000000000000000",
      "c00d121893a9fa603f48ccc1ca3c57ce7499245ea0046db16c53c7c66fe717e39cf6c748837b61f6ee3adcee17534ed5"
      "790bc96880a99ba804bd12c0e6a22cc4" },
    { K1, N1, "",
      "01000000000000000000000000000000020000000000000000000000000000000300000000000000000000000000000004000000000000000000000000000000",
      "c2d5160a1f8683834910acdafc41fbb1632d4a353e8b905ec9a5499ac34f96c7e1049eb080883891a4db8caaa1f99dd0"
      "04d80487540735234e3744512c6f90ce112864c269fc0d9d88c61fa47e39aa08" },
    { K1, N1, "01", "0200000000000000", "1de22967237a813291213f267e3b452f02d01ae33e4ec854" },
    { K1, N1, "01", "020000000000000000000000", "163d6f9cc1b346cd453a2e4cc1a4a19ae800941ccdc57cc8413c277f" },
    { K1, N1, "01", "02000000000000000000000000000000",
      "c91545823cc24f17dbb0e9e807d5ec17b292d28ff61189e8e49f3875ef91aff7" },
    { K1, N1, "01", "0200000000000000000000000000000003000000000000000000000000000000",
      "07dad364bfc2b9da89116d7bef6daaaf6f255510aa654f920ac81b94e8bad365aea1bad12702e1965604374aab96dbbc" },
    { K1, N1, "01",
      "020000000000000000000000000000000300000000000000000000000000000004000000000000000000000000000000",
      "c67a1f0f567a5198aa1fcc8e3f21314336f7f51ca8b1af61feac35a86416fa47fbca3b5f749cdf564527f2314f42fe25"
      "03332742b228c647173616cfd44c54eb" },
    { K1, N1, "01",
      "02000000000000000000000000000000030000000000000000000000000000000400000000000000000000000000000005000000000000000000000000000000",
      "67fd45e126bfb9a79930c43aad2d36967d3f0e4d217c1e551f59727870beefc98cb933a8fce9de887b1e40799988db1f"
      "c3f91880ed405b2dd298318858467c895bde0285037c5de81e5b570a049b62a0" },
    { K1, N1, "010000000000000000000000", "02000000", "22b3f4cd1835e517741dfddccfa07fa4661b74cf" },
    { K1, N1, "010000000000000000000000000000000200", "0300000000000000000000000000000004000000",
      "43dd0163cdb48f9fe3212bf61b201976067f342bb879ad976d8242acc188ab59cabfe307" },
    { K1, N1, "0100000000000000000000000000000002000000", "030000000000000000000000000000000400",
      "462401724b5ce6588d5a54aae5375513a075cfcdf5042112aa29685c912fc2056543" },
    { "e66021d5eb8e4f4066d4adb9c33560e4f46e44bb3da0015c94f7088736864200", "e0eaf5284d884a0e77d31646",
      "", "", "169fbb2fbf389a995f6390af22228a62" },
    { "bae8e37fc83441b16034566b7a806c46bb91c3c5aedb64a6c590bc84d1a5e269", "e4b47801afc0577e34699b9e",
      "4fbdc66f14", "671fdd", "0eaccb93da9bb81333aee0c785b240d319719d" },
    { "6545fc880c94a95198874296d5cc1fd161320b6920ce07787f86743b275d1ab3", "2f6d1f0434d8848c1177441f",
      "6787f3ea22c127aaf195", "195495860f04", "a254dad4f3f96b62b84dc40c84636a5ec12020ec8c2c" },
    { "d1894728b3fed1473c528b8426a582995929a1499e9ad8780c8d63d0ab4149c0", "9f572c614b4745914474e7c7",
      "489c8fde2be2cf97e74e932d4ed87d", "c9882e5386fd9f92ec",
      "0df9e308678244c44bc0fd3dc6628dfe55ebb0b9fb2295c8c2" },
    { "a44102952ef94b02b805249bac80e6f61455bfac8308a2d40d8c845117808235", "5c9e940fea2f582950a70d5a",
      "0da55210cc1c1b0abde3b2f204d1e9f8b06bc47f", "1db2316fd568378da107b52b",
      "8dbeb9f7255bf5769dd56692404099c2587f64979f21826706d497d5" },
    { "9745b3d1ae06556fb6aa7890bebc18fe6b3db4da3d57aa94842b9803a96e07fb", "6de71860f762ebfbd08284e4",
      "f37de21c7ff901cfe8a69615a93fdf7a98cad481796245709f", "21702de0de18baa9c9596291b08466",
      "793576dfa5c0f88729a7ed3c2f1bffb3080d28f6ebb5d3648ce97bd5ba67fd" },
    { "b18853f68d833640e42a3c02c25b64869e146d7b233987bddfc240871d7576f7", "028ec6eb5ea7e298342a94d4",
      "9c2159058b1f0fe91433a5bdc20e214eab7fecef4454a10ef0657df21ac7",
      "b202b370ef9768ec6561c4fe6b7e7296fa85",
      "857e16a64915a787637687db4a9519635cdd454fc2a154fea91f8363a39fec7d0a49" },
    { "3c535de192eaed3822a2fbbe2ca9dfc88255e14a661b8aa82cc54236093bbc23", "688089e55540db1872504e1c",
      "734320ccc9d9bbbb19cb81b2af4ecbc3e72834321f7aa0f70b7282b4f33df23f167541",
      "ced532ce4159b035277d4dfbb7db62968b13cd4eec",
      "626660c26ea6612fb17ad91e8e767639edd6c9faee9d6c7029675b89eaf4ba1ded1a286594" },
    /* RFC 8452 C.3: the 32-bit counter wraps */
    { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
      "000000000000000000000000000000004db923dc793ee6497c76dcc03a98e108",
      "f3f80f2cf0cb2dd9c5984fcda908456cc537703b5ba70324a6793a7bf218d3eaffffffff000000000000000000000000" },
    { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
      "eb3640277c7ffd1303c7a542d02d3e4c0000000000000000",
      "18ce4f0b8cb4d0cac65fea8f79257b20888e53e72299e56dffffffff000000000000000000000000" },
    /* libsignal java/client/src/test/.../Aes256GcmSivTests.java */
    { "bae8e37fc83441b16034566b7a806c46bb91c3c5aedb64a6c590bc84d1a5e269", "e4b47801afc0577e34699b9e",
      "874296d5cc1fd16132", "671fdd4fbdc66f146545fc880c94a95198",
      "9209cfae7372e0a3ec2e5d072d5e26b7b9f3acb73908e54cddf7be1864914e13cf" },
};

static uint8_t *unhex(const char *h, size_t *n)
{
    *n = strlen(h) / 2;
    uint8_t *p = malloc(*n ? *n : 1);
    assert_non_null(p);
    size_t got = 0;
    assert_int_equal(sodium_hex2bin(p, *n ? *n : 1, h, strlen(h), NULL, &got, NULL), 0);
    assert_int_equal(got, *n);
    return p;
}

static void rfc8452_once(void)
{
    for (size_t v = 0; v < sizeof VECTORS / sizeof VECTORS[0]; v++) {
        size_t kn, nn, an, pn, cn;
        uint8_t *key = unhex(VECTORS[v].key, &kn), *nonce = unhex(VECTORS[v].nonce, &nn);
        uint8_t *ad = unhex(VECTORS[v].ad, &an), *pt = unhex(VECTORS[v].pt, &pn);
        uint8_t *want = unhex(VECTORS[v].ct, &cn);
        assert_int_equal(kn, 32);
        assert_int_equal(nn, 12);
        assert_int_equal(cn, pn + 16);
        uint8_t *out = malloc(cn), *back = malloc(pn + 1);
        assert_int_equal(sotto_aes256_gcm_siv_encrypt(out, key, nonce, ad, an, pt, pn), SOTTO_OK);
        assert_memory_equal(out, want, cn);
        assert_int_equal(sotto_aes256_gcm_siv_decrypt(back, key, nonce, ad, an, want, cn), SOTTO_OK);
        assert_memory_equal(back, pt, pn);
        /* any flipped bit in ciphertext, tag, nonce or ad is refused, output zeroed */
        for (size_t i = 0; i < cn; i++) {
            want[i] ^= 0x01;
            memset(back, 0xAA, pn + 1);
            assert_int_equal(sotto_aes256_gcm_siv_decrypt(back, key, nonce, ad, an, want, cn), SOTTO_ERR_BAD_MAC);
            for (size_t j = 0; j < pn; j++)
                assert_int_equal(back[j], 0);
            want[i] ^= 0x01;
        }
        nonce[11] ^= 0x80;
        assert_int_equal(sotto_aes256_gcm_siv_decrypt(back, key, nonce, ad, an, want, cn), SOTTO_ERR_BAD_MAC);
        nonce[11] ^= 0x80;
        if (an) {
            ad[0] ^= 1;
            assert_int_equal(sotto_aes256_gcm_siv_decrypt(back, key, nonce, ad, an, want, cn), SOTTO_ERR_BAD_MAC);
            ad[0] ^= 1;
        }
        /* in place */
        uint8_t *io = malloc(cn);
        memcpy(io, pt, pn);
        assert_int_equal(sotto_aes256_gcm_siv_encrypt(io, key, nonce, ad, an, io, pn), SOTTO_OK);
        assert_memory_equal(io, want, cn);
        assert_int_equal(sotto_aes256_gcm_siv_decrypt(io, key, nonce, ad, an, io, cn), SOTTO_OK);
        assert_memory_equal(io, pt, pn);
        free(io);
        free(key); free(nonce); free(ad); free(pt); free(want); free(out); free(back);
    }
}

/* Both POLYVAL paths (PCLMULQDQ where the CPU has it, and the portable one). */
static void test_rfc8452(void **state)
{
    (void)state;
    sotto_gcm_siv_force_portable(0);
    rfc8452_once();
    sotto_gcm_siv_force_portable(1);
    rfc8452_once();
    sotto_gcm_siv_force_portable(0);
}

static void polyval_once(void)
{
    size_t hn, xn, wn;
    uint8_t *h = unhex("25629347589242761d31f826ba4b757b", &hn);
    uint8_t *x = unhex("4f4f95668c83dfb6401762bb2d01a262d1a24ddd2721d006bbe45f20d3c9f362", &xn);
    uint8_t *want = unhex("f7a3b47b846119fae5b7866cf5e5b77e", &wn);
    uint8_t out[16];
    sotto_polyval(out, h, x, 2);
    assert_memory_equal(out, want, 16);
    free(h); free(x); free(want);
}

static void test_polyval(void **state) /* RFC 8452 Appendix A, both paths */
{
    (void)state;
    sotto_gcm_siv_force_portable(0);
    polyval_once();
    sotto_gcm_siv_force_portable(1);
    polyval_once();
    sotto_gcm_siv_force_portable(0);
}

static void test_long_and_errors(void **state)
{
    (void)state;
    /* several keystream batches; round trip */
    enum { N = 5000 };
    uint8_t key[32], nonce[12];
    randombytes_buf(key, sizeof key);
    randombytes_buf(nonce, sizeof nonce);
    uint8_t *pt = malloc(N), *ct = malloc(N + 16), *back = malloc(N);
    randombytes_buf(pt, N);
    assert_int_equal(sotto_aes256_gcm_siv_encrypt(ct, key, nonce, NULL, 0, pt, N), SOTTO_OK);
    assert_int_equal(sotto_aes256_gcm_siv_decrypt(back, key, nonce, NULL, 0, ct, N + 16), SOTTO_OK);
    assert_memory_equal(back, pt, N);
    assert_int_equal(sotto_aes256_gcm_siv_decrypt(back, key, nonce, NULL, 0, ct, 15), SOTTO_ERR_MALFORMED);
    assert_int_equal(sotto_aes256_gcm_siv_encrypt(NULL, key, nonce, NULL, 0, pt, N), SOTTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(sotto_aes256_gcm_siv_encrypt(ct, key, nonce, NULL, 1, pt, N), SOTTO_ERR_INVALID_ARGUMENT);
    free(pt); free(ct); free(back);
}

int main(void)
{
    if (sotto_init() != SOTTO_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_polyval),
        cmocka_unit_test(test_rfc8452),
        cmocka_unit_test(test_long_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
