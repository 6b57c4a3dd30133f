/* The command line of linked devices (link, add-device, devices, unlink),
 * their refusals, their help, and the daemon's devices/unlink methods as far
 * as they go without a store. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli.h"
#include "daemon.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PIN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static sotto_cstatus parse(sotto_cli *c, int argc, const char **argv)
{
    char err[SOTTO_CERR_LEN];
    return sotto_cli_parse(c, argc, (char **)argv, err);
}

static void test_link(void **state)
{
    (void)state;
    sotto_cli c;
    const char *a[] = {"sotto", "-c", "/tmp/l", "link", "--server", "https://h:1", "--pin", PIN, "--name", "laptop",
                       "--key-file"};
    assert_int_equal(parse(&c, ARGC(a), a), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_LINK);
    assert_string_equal(c.server, "https://h:1");
    assert_string_equal(c.device_name, "laptop");
    assert_int_equal(c.key_file, 1);
    const char *no_server[] = {"sotto", "link"};
    assert_int_equal(parse(&c, ARGC(no_server), no_server), SOTTO_C_USAGE);
    const char *plain[] = {"sotto", "link", "--server", "http://h"};
    assert_int_equal(parse(&c, ARGC(plain), plain), SOTTO_C_USAGE);
    const char *both[] = {"sotto", "link", "--server", "https://h", "--cacert", "f", "--pin", PIN};
    assert_int_equal(parse(&c, ARGC(both), both), SOTTO_C_USAGE);
    const char *user[] = {"sotto", "link", "--server", "https://h", "--username", "alice"};
    assert_int_equal(parse(&c, ARGC(user), user), SOTTO_C_USAGE); /* the account brings its name */
    const char *extra[] = {"sotto", "link", "--server", "https://h", "more"};
    assert_int_equal(parse(&c, ARGC(extra), extra), SOTTO_C_USAGE);
    const char *name_elsewhere[] = {"sotto", "register", "--server", "https://h", "--username", "a", "--name", "x"};
    assert_int_equal(parse(&c, ARGC(name_elsewhere), name_elsewhere), SOTTO_C_USAGE);
}

static void test_add_device_devices_unlink(void **state)
{
    (void)state;
    sotto_cli c;
    const char *a[] = {"sotto", "add-device", "sotto-link:abc.def"};
    assert_int_equal(parse(&c, ARGC(a), a), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_ADD_DEVICE);
    assert_string_equal(c.link_code, "sotto-link:abc.def");
    const char *none[] = {"sotto", "add-device"};
    assert_int_equal(parse(&c, ARGC(none), none), SOTTO_C_USAGE);
    const char *two[] = {"sotto", "add-device", "a", "b"};
    assert_int_equal(parse(&c, ARGC(two), two), SOTTO_C_USAGE);

    const char *d[] = {"sotto", "devices", "--json"};
    assert_int_equal(parse(&c, ARGC(d), d), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_DEVICES);
    assert_int_equal(c.json, 1);
    const char *d2[] = {"sotto", "devices", "3"};
    assert_int_equal(parse(&c, ARGC(d2), d2), SOTTO_C_USAGE);

    const char *u[] = {"sotto", "unlink", "12"};
    assert_int_equal(parse(&c, ARGC(u), u), SOTTO_C_OK);
    assert_int_equal(c.cmd, SOTTO_CMD_UNLINK);
    assert_int_equal(c.device_id, 12);
    static const char *const bad[] = {"0", "128", "-1", "2x", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *ub[] = {"sotto", "unlink", bad[i]};
        assert_int_equal(parse(&c, ARGC(ub), ub), SOTTO_C_USAGE);
    }
    const char *un[] = {"sotto", "unlink"};
    assert_int_equal(parse(&c, ARGC(un), un), SOTTO_C_USAGE);
}

static void test_help(void **state)
{
    (void)state;
    static const sotto_cmd cmds[] = {SOTTO_CMD_LINK, SOTTO_CMD_ADD_DEVICE, SOTTO_CMD_DEVICES, SOTTO_CMD_UNLINK};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        sotto_cli c;
        const char *h[] = {"sotto", sotto_cli_cmd_name(cmds[i]), "--help"};
        assert_int_equal(parse(&c, ARGC(h), h), SOTTO_C_OK);
        assert_int_equal(c.help, 1);
        assert_int_equal(c.cmd, cmds[i]);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        sotto_cli_help(f, cmds[i]);
        fclose(f);
        char want[64];
        snprintf(want, sizeof want, "usage: sotto [-c DIR] %s", sotto_cli_cmd_name(cmds[i]));
        assert_non_null(strstr(buf, want));
        free(buf);
    }
}

static json_t *call(const char *line)
{
    char *out = sotto_rpc_handle(NULL, line, strlen(line));
    assert_non_null(out);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    return j;
}

static void test_rpc(void **state)
{
    (void)state;
    /* Bad params are refused before the store is needed. */
    json_t *j = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"unlink\",\"params\":{\"id\":0}}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32602);
    json_decref(j);
    j = call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"unlink\",\"params\":[]}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32602);
    json_decref(j);
    j = call("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"unlink\",\"params\":{\"id\":\"2\"}}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32602);
    json_decref(j);
    /* Known methods (no store here: internal error, not "method not found"). */
    j = call("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"devices\"}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32603);
    json_decref(j);
    j = call("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"unlink\",\"params\":{\"id\":2}}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32603);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_add_device_devices_unlink),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_rpc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
