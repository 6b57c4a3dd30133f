/* sotto client: the command line. Parsing only; nothing here touches the
 * network or the store, so it is tested on its own. */
#ifndef SOTTO_CLIENT_CLI_H
#define SOTTO_CLIENT_CLI_H
#include <stddef.h>
#include <stdio.h>

#include "status.h"

#define SOTTO_CLI_MAX_RECIPIENTS 64     /* usernames in one send */
#define SOTTO_CLI_DEFAULT_TIMEOUT 5     /* receive --timeout, seconds */
#define SOTTO_CLI_MAX_TIMEOUT 86400     /* longest receive --timeout, seconds */

typedef enum sotto_cmd {
    SOTTO_CMD_NONE = 0,
    SOTTO_CMD_REGISTER,
    SOTTO_CMD_SEND,
    SOTTO_CMD_RECEIVE,
    SOTTO_CMD_HISTORY,
    SOTTO_CMD_DAEMON,
    SOTTO_CMD_SAFETY,
    SOTTO_CMD_TRUST,
    SOTTO_CMD_LINK,
    SOTTO_CMD_ADD_DEVICE,
    SOTTO_CMD_DEVICES,
    SOTTO_CMD_UNLINK,
} sotto_cmd;

typedef struct sotto_cli {
    const char *dir;          /* -c DIR; NULL: the default directory */
    sotto_cmd cmd;
    int help;                 /* --help given: print help for cmd and exit 0 */
    int version;
    /* register, link */
    const char *server;
    const char *username;
    const char *cacert;
    const char *pin;
    int key_file;             /* --key-file: random store key in DIR/store.key */
    /* send */
    const char *message;      /* -m; NULL: read standard input */
    const char *recipients[SOTTO_CLI_MAX_RECIPIENTS];
    size_t n_recipients;
    /* receive */
    long timeout;             /* seconds; negative: wait forever */
    int json;                 /* receive, history, safety: JSON output */
    /* history, safety, trust */
    const char *peer;
    /* trust: exactly one of the two */
    const char *safety_number;
    int accept_new_key;
    /* link: a label for the new device; add-device: the link code; unlink: the device id */
    const char *device_name;
    const char *link_code;
    unsigned device_id;
} sotto_cli;

/* Parses argv (argv[0] is the program). Arguments are borrowed, not copied.
 * SOTTO_C_USAGE with a reason in err on any mistake. */
sotto_cstatus sotto_cli_parse(sotto_cli *out, int argc, char **argv, char *err);

/* The help text of cmd (SOTTO_CMD_NONE: the overview). */
void sotto_cli_help(FILE *f, sotto_cmd cmd);

/* "register", ... */
const char *sotto_cli_cmd_name(sotto_cmd cmd);

/* Checks a --pin value: 64 hex digits, optionally with ':' between bytes.
 * Writes the 32 bytes into pin. */
sotto_cstatus sotto_cli_parse_pin(unsigned char pin[32], const char *s, char *err);

#endif
