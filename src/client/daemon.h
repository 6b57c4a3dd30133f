/* sotto client: the daemon. Stays connected (reconnecting with backoff),
 * stores and acknowledges incoming messages, and serves JSON-RPC 2.0 on the
 * Unix socket DIR/sotto.sock (mode 0600), one JSON object per line each way.
 *
 * Methods (docs/CLIENT.md has the details):
 *   send     {"recipients":[NAME...] | "recipient":NAME, "message":TEXT}
 *            -> {"results":[{"recipient","id","status":"sent"|"pending"|"failed"}]}
 *   history  {"username":NAME, "limit"?:N} -> [message...]
 *   safety   {"username":NAME} -> {"username","uuid","trust","safetyNumber","changed",
 *            "newSafetyNumber"?,"held"}
 *   trust    {"username":NAME, "safetyNumber":DIGITS | "acceptNewKey":true}
 *            -> {"username","trust","changed","released","stillHeld"}
 *   devices  -> [{"id","created","current"}...]  (GET /v1/devices)
 *   unlink   {"id":N} -> {"removed":N}            (another device of the account)
 *   version  -> {"version":"..."}
 * Notifications to every connected client:
 *   receive  {"id","from","device","timestamp","time","message"} */
#ifndef SOTTO_CLIENT_DAEMON_H
#define SOTTO_CLIENT_DAEMON_H
#include <stddef.h>

#include "client.h"
#include "status.h"

#define SOTTO_DAEMON_SOCKET      "sotto.sock"
#define SOTTO_RPC_CLIENTS_MAX    16
#define SOTTO_RPC_LINE_MAX       (512u * 1024u)  /* one request line */
#define SOTTO_RPC_HISTORY_MAX    10000           /* messages in one history answer */
#define SOTTO_RECONNECT_MIN_MS   1000
#define SOTTO_RECONNECT_MAX_MS   30000
#define SOTTO_DAEMON_TICK_MS     30000           /* retry pending sends this often */
#define SOTTO_RPC_SEND_TIMEOUT_S 5               /* a client that does not read is dropped */

/* JSON-RPC error codes beyond the standard ones (-32700 ... -32603): the
 * application error is -32000 with data.code = the sotto exit code. */
#define SOTTO_RPC_APP_ERROR (-32000)

/* Runs until SIGINT or SIGTERM (then SOTTO_C_OK) or a fatal store error. */
sotto_cstatus sotto_daemon_run(sotto_client *c, const char *dir, char *err);

/* One request line in, the response line out (malloc'ed, no newline), or
 * NULL for a notification (no id). c may be NULL for requests that fail
 * before reaching the store (tests). */
char *sotto_rpc_handle(sotto_client *c, const char *line, size_t len);

#endif
