/* The daemon's JSON-RPC framing: every error that needs no store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon.h"

static json_t *call(const char *line)
{
    char *out = sotto_rpc_handle(NULL, line, strlen(line));
    if (out == NULL)
        return NULL;
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "jsonrpc")), "2.0");
    return j;
}

static int error_code(json_t *j)
{
    return (int)json_integer_value(json_object_get(json_object_get(j, "error"), "code"));
}

static void test_errors(void **state)
{
    (void)state;
    json_t *j = call("{not json");
    assert_int_equal(error_code(j), -32700);
    assert_true(json_is_null(json_object_get(j, "id")));
    json_decref(j);
    j = call("[1,2]");
    assert_int_equal(error_code(j), -32600);
    json_decref(j);
    j = call("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"version\"}");
    assert_int_equal(error_code(j), -32600);
    json_decref(j);
    j = call("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"version\"}");
    assert_int_equal(error_code(j), -32600);
    json_decref(j);
    j = call("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"frob\"}");
    assert_int_equal(error_code(j), -32601);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
    json_decref(j);
    j = call("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"send\",\"params\":[1]}");
    assert_int_equal(error_code(j), -32602);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "x");
    json_decref(j);
    /* safety and trust: a username, and exactly one of safetyNumber and acceptNewKey. */
    static const char *const bad[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"safety\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"safety\",\"params\":{\"username\":5}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":{\"username\":\"bob\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":{\"username\":\"bob\","
        "\"acceptNewKey\":false}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":{\"username\":\"bob\","
        "\"acceptNewKey\":\"yes\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":{\"username\":\"bob\","
        "\"acceptNewKey\":true,\"safetyNumber\":\"1\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":{\"username\":\"bob\","
        "\"safetyNumber\":12}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":[\"bob\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = call(bad[i]);
        assert_int_equal(error_code(j), -32602);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(j, "error"), "data"),
                                                            "code")), 2);
        json_decref(j);
    }
    /* Well-formed: past the parameter checks (no store here). */
    j = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"trust\",\"params\":{\"username\":\"bob\","
             "\"acceptNewKey\":true}}");
    assert_int_equal(error_code(j), -32603);
    json_decref(j);
    /* A duplicate key is not accepted. */
    j = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"version\"}");
    assert_int_equal(error_code(j), -32700);
    json_decref(j);
}

static void test_version_and_notification(void **state)
{
    (void)state;
    json_t *j = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"version\"}");
    assert_non_null(json_object_get(json_object_get(j, "result"), "version"));
    json_decref(j);
    /* No id: a notification, no answer at all. */
    assert_null(call("{\"jsonrpc\":\"2.0\",\"method\":\"version\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_version_and_notification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
