/* The client command line: every command, its required options, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static sotto_cstatus parse(sotto_cli *c, int argc, const char **argv)
{
    char err[SOTTO_CERR_LEN];
    return sotto_cli_parse(c, argc, (char **)argv, err);
}

static void test_register(void **state)
{
    (void)state;
    sotto_cli c;
    const char *a[] = {"sotto", "-c", "/tmp/x", "register", "--server", "https://h:1",
                       "--username", "alice", "--pin", ("AB:cd:" "00112233445566778899aabbccddeeff00112233445566778899aabbccdd")};
    assert_int_equal(parse(&c, ARGC(a), a), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_REGISTER);
    assert_string_equal(c.dir, "/tmp/x");
    assert_string_equal(c.server, "https://h:1");
    assert_string_equal(c.username, "alice");
    assert_non_null(c.pin);
    assert_int_equal(c.key_file, 0);

    const char *no_user[] = {"sotto", "register", "--server", "https://h"};
    assert_int_equal(parse(&c, ARGC(no_user), no_user), SOTTO_C_USAGE);
    const char *plain[] = {"sotto", "register", "--server", "http://h", "--username", "a"};
    assert_int_equal(parse(&c, ARGC(plain), plain), SOTTO_C_USAGE);
    const char *both[] = {"sotto", "register", "--server", "https://h", "--username", "a",
                          "--cacert", "f", "--pin", "00"};
    assert_int_equal(parse(&c, ARGC(both), both), SOTTO_C_USAGE);
    const char *badpin[] = {"sotto", "register", "--server", "https://h", "--username", "a", "--pin", "zz"};
    assert_int_equal(parse(&c, ARGC(badpin), badpin), SOTTO_C_USAGE);
    const char *kf[] = {"sotto", "register", "--server=https://h", "--username=a", "--key-file"};
    assert_int_equal(parse(&c, ARGC(kf), kf), SOTTO_C_OK);
    assert_int_equal(c.key_file, 1);
}

static void test_send(void **state)
{
    (void)state;
    sotto_cli c;
    const char *a[] = {"sotto", "send", "-m", "hello", "bob", "carol"};
    assert_int_equal(parse(&c, ARGC(a), a), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_SEND);
    assert_string_equal(c.message, "hello");
    assert_int_equal(c.n_recipients, 2);
    assert_string_equal(c.recipients[1], "carol");
    const char *stdin_msg[] = {"sotto", "send", "bob"};
    assert_int_equal(parse(&c, ARGC(stdin_msg), stdin_msg), SOTTO_C_OK);
    assert_null(c.message);
    const char *none[] = {"sotto", "send", "-m", "x"};
    assert_int_equal(parse(&c, ARGC(none), none), SOTTO_C_USAGE);
    const char *wrong[] = {"sotto", "send", "--timeout", "3", "bob"};
    assert_int_equal(parse(&c, ARGC(wrong), wrong), SOTTO_C_USAGE);
    const char *missing[] = {"sotto", "send", "bob", "-m"};
    assert_int_equal(parse(&c, ARGC(missing), missing), SOTTO_C_USAGE);
}

static void test_receive_history_daemon(void **state)
{
    (void)state;
    sotto_cli c;
    const char *r[] = {"sotto", "receive"};
    assert_int_equal(parse(&c, ARGC(r), r), SOTTO_C_OK);
    assert_int_equal(c.timeout, SOTTO_CLI_DEFAULT_TIMEOUT);
    const char *r2[] = {"sotto", "receive", "--timeout", "-1", "--json"};
    assert_int_equal(parse(&c, ARGC(r2), r2), SOTTO_C_OK);
    assert_int_equal(c.timeout, -1);
    assert_int_equal(c.json, 1);
    const char *r3[] = {"sotto", "receive", "--timeout", "soon"};
    assert_int_equal(parse(&c, ARGC(r3), r3), SOTTO_C_USAGE);
    const char *h[] = {"sotto", "history", "bob"};
    assert_int_equal(parse(&c, ARGC(h), h), SOTTO_C_OK);
    assert_string_equal(c.peer, "bob");
    const char *h2[] = {"sotto", "history"};
    assert_int_equal(parse(&c, ARGC(h2), h2), SOTTO_C_USAGE);
    const char *d[] = {"sotto", "daemon", "extra"};
    assert_int_equal(parse(&c, ARGC(d), d), SOTTO_C_USAGE);
    const char *d2[] = {"sotto", "--config=/tmp/d", "daemon"};
    assert_int_equal(parse(&c, ARGC(d2), d2), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_DAEMON);
}

static void test_safety_trust(void **state)
{
    (void)state;
    sotto_cli c;
    const char *sa[] = {"sotto", "safety", "bob"};
    assert_int_equal(parse(&c, ARGC(sa), sa), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_SAFETY);
    assert_string_equal(c.peer, "bob");
    assert_int_equal(c.json, 0);
    const char *sj[] = {"sotto", "safety", "--json", "bob"};
    assert_int_equal(parse(&c, ARGC(sj), sj), SOTTO_C_OK);
    assert_int_equal(c.json, 1);
    const char *s0[] = {"sotto", "safety"};
    assert_int_equal(parse(&c, ARGC(s0), s0), SOTTO_C_USAGE);
    const char *s2[] = {"sotto", "safety", "bob", "carol"};
    assert_int_equal(parse(&c, ARGC(s2), s2), SOTTO_C_USAGE);
    const char *sn[] = {"sotto", "safety", "--accept-new-key", "bob"};
    assert_int_equal(parse(&c, ARGC(sn), sn), SOTTO_C_USAGE);

    const char *tn[] = {"sotto", "trust", "bob", "--safety-number", "12345 67890"};
    assert_int_equal(parse(&c, ARGC(tn), tn), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_TRUST);
    assert_string_equal(c.safety_number, "12345 67890");
    assert_int_equal(c.accept_new_key, 0);
    const char *ta[] = {"sotto", "trust", "--accept-new-key", "bob"};
    assert_int_equal(parse(&c, ARGC(ta), ta), SOTTO_C_OK);
    assert_int_equal(c.accept_new_key, 1);
    assert_null(c.safety_number);
    const char *tnone[] = {"sotto", "trust", "bob"};
    assert_int_equal(parse(&c, ARGC(tnone), tnone), SOTTO_C_USAGE);
    const char *tboth[] = {"sotto", "trust", "bob", "--accept-new-key", "--safety-number", "1"};
    assert_int_equal(parse(&c, ARGC(tboth), tboth), SOTTO_C_USAGE);
    const char *tjson[] = {"sotto", "trust", "--json", "--accept-new-key", "bob"};
    assert_int_equal(parse(&c, ARGC(tjson), tjson), SOTTO_C_USAGE);
    const char *th[] = {"sotto", "trust", "--help"};
    assert_int_equal(parse(&c, ARGC(th), th), SOTTO_C_OK);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.cmd, SOTTO_CMD_TRUST);
    assert_string_equal(sotto_cli_cmd_name(SOTTO_CMD_SAFETY), "safety");
}

static void test_help_and_errors(void **state)
{
    (void)state;
    sotto_cli c;
    const char *h[] = {"sotto", "send", "--help"};
    assert_int_equal(parse(&c, ARGC(h), h), SOTTO_C_OK);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.cmd, SOTTO_CMD_SEND);
    const char *h2[] = {"sotto", "--help"};
    assert_int_equal(parse(&c, ARGC(h2), h2), SOTTO_C_OK);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.cmd, SOTTO_CMD_NONE);
    const char *none[] = {"sotto"};
    assert_int_equal(parse(&c, ARGC(none), none), SOTTO_C_USAGE);
    const char *unk[] = {"sotto", "frobnicate"};
    assert_int_equal(parse(&c, ARGC(unk), unk), SOTTO_C_USAGE);
    const char *noc[] = {"sotto", "-c"};
    assert_int_equal(parse(&c, ARGC(noc), noc), SOTTO_C_USAGE);
}

static void test_pin(void **state)
{
    (void)state;
    unsigned char pin[32];
    char err[SOTTO_CERR_LEN];
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    assert_int_equal(sotto_cli_parse_pin(pin, hex, err), SOTTO_C_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(pin[i], i);
    assert_int_equal(sotto_cli_parse_pin(pin, "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"
                                              "10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F", err), SOTTO_C_OK);
    assert_int_equal(pin[31], 31);
    assert_int_equal(sotto_cli_parse_pin(pin, "0001", err), SOTTO_C_USAGE);
    assert_int_equal(sotto_cli_parse_pin(pin, "0:001", err), SOTTO_C_USAGE);
    char longer[80];
    snprintf(longer, sizeof longer, "%s00", hex);
    assert_int_equal(sotto_cli_parse_pin(pin, longer, err), SOTTO_C_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_receive_history_daemon),
        cmocka_unit_test(test_safety_trust),
        cmocka_unit_test(test_help_and_errors),
        cmocka_unit_test(test_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
