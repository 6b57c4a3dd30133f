/* sotto client: the command line (see cli.h). */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char *const cmd_names[] = {
    [SOTTO_CMD_NONE] = "",
    [SOTTO_CMD_REGISTER] = "register",
    [SOTTO_CMD_SEND] = "send",
    [SOTTO_CMD_RECEIVE] = "receive",
    [SOTTO_CMD_HISTORY] = "history",
    [SOTTO_CMD_DAEMON] = "daemon",
    [SOTTO_CMD_SAFETY] = "safety",
    [SOTTO_CMD_TRUST] = "trust",
    [SOTTO_CMD_LINK] = "link",
    [SOTTO_CMD_ADD_DEVICE] = "add-device",
    [SOTTO_CMD_DEVICES] = "devices",
    [SOTTO_CMD_UNLINK] = "unlink",
};

const char *sotto_cli_cmd_name(sotto_cmd cmd)
{
    if ((size_t)cmd >= sizeof cmd_names / sizeof cmd_names[0])
        return "";
    return cmd_names[cmd];
}

static const char help_main[] =
    "usage: sotto [-c DIR] COMMAND [OPTIONS]\n"
    "\n"
    "End-to-end encrypted messaging with a sottod relay.\n"
    "\n"
    "Commands:\n"
    "  register   create an account on a server (once per config directory)\n"
    "  send       send a message to one or more users\n"
    "  receive    fetch, decrypt and print new messages\n"
    "  history    print the conversation with one user\n"
    "  daemon     stay connected; JSON-RPC 2.0 on DIR/sotto.sock\n"
    "  safety     show the safety number and trust state of a contact\n"
    "  trust      trust a contact's new identity key\n"
    "  link       make this directory a new device of an existing account\n"
    "  add-device send a new device (sotto link) what it needs to join\n"
    "  devices    list the devices of this account\n"
    "  unlink     remove another device from this account\n"
    "\n"
    "Options:\n"
    "  -c, --config DIR  config directory (default $SOTTO_CONFIG, else\n"
    "                    $XDG_DATA_HOME/sotto or ~/.local/share/sotto)\n"
    "  -h, --help        this help; COMMAND --help for a command's help\n"
    "  --version         print the version\n"
    "\n"
    "The store is encrypted with a passphrase (SOTTO_PASSPHRASE, else a prompt on\n"
    "the terminal) or with a random key file (register --key-file).\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage, 3 network, 4 server error, 5 auth,\n"
    "6 store locked, 7 not found, 8 store (wrong passphrase/damaged), 9 not trusted,\n"
    "10 conflict. See docs/CLIENT.md.\n";

static const char help_register[] =
    "usage: sotto [-c DIR] register --server URL --username NAME\n"
    "                      [--cacert FILE | --pin SHA256] [--key-file]\n"
    "\n"
    "Creates the encrypted store in DIR, an identity and prekeys, and registers\n"
    "the account NAME on the server at URL (https:// only).\n"
    "\n"
    "  --server URL      the sottod base URL, e.g. https://127.0.0.1:8443\n"
    "  --username NAME   3..32 characters [a-z0-9_.], starting with a letter\n"
    "  --cacert FILE     trust the CA (or self-signed certificate) in FILE (PEM)\n"
    "  --pin SHA256      trust exactly the server certificate with this SHA-256\n"
    "                    fingerprint (64 hex digits, ':' allowed), as sottod prints it\n"
    "                    Without --cacert or --pin the system CA store is used.\n"
    "  --key-file        encrypt the store with a random key kept in DIR/store.key\n"
    "                    (mode 0600) instead of a passphrase\n"
    "\n"
    "The server settings are kept in the store; other commands reuse them.\n";

static const char help_send[] =
    "usage: sotto [-c DIR] send [-m TEXT] USERNAME...\n"
    "\n"
    "Sends TEXT (or standard input, when -m is missing) to every USERNAME, to\n"
    "each of their devices. The message is stored before it is sent and marked\n"
    "sent once the server has accepted it; messages still pending from an\n"
    "earlier run are sent first.\n"
    "\n"
    "  -m, --message TEXT  the message\n";

static const char help_receive[] =
    "usage: sotto [-c DIR] receive [--timeout S] [--json]\n"
    "\n"
    "Connects to the server, receives, decrypts and stores new messages, and\n"
    "prints them. Each is acknowledged to the server only after it is stored.\n"
    "\n"
    "  -t, --timeout S   once the server has sent everything queued, stop after S\n"
    "                    seconds without a new message (default 5; 0: stop right\n"
    "                    after the backlog; a negative value waits forever)\n"
    "  --json            one JSON object per line:\n"
    "                    {\"from\":..,\"device\":..,\"timestamp\":..,\"message\":..}\n";

static const char help_history[] =
    "usage: sotto [-c DIR] history [--json] USERNAME\n"
    "\n"
    "Prints the stored conversation with USERNAME, oldest first:\n"
    "  TIMESTAMP <- FROM: TEXT   (received)\n"
    "  TIMESTAMP -> TO: TEXT     (sent; \"(pending)\" until the server accepted it)\n"
    "\n"
    "  --json            one JSON object per line\n";

static const char help_daemon[] =
    "usage: sotto [-c DIR] daemon\n"
    "\n"
    "Stays connected to the server, receives messages as they arrive, and\n"
    "serves JSON-RPC 2.0 on the Unix socket DIR/sotto.sock (mode 0600), one JSON\n"
    "object per line. Methods: send, history, safety, trust, devices, unlink,\n"
    "version. Received messages are sent to every connected client as\n"
    "\"receive\" notifications.\n"
    "See docs/CLIENT.md.\n"
    "The daemon holds the store: other sotto commands on DIR report it in use.\n";

static const char help_safety[] =
    "usage: sotto [-c DIR] safety [--json] USERNAME\n"
    "\n"
    "Prints the 60-digit safety number of this account and USERNAME (12 groups\n"
    "of 5 digits) and how USERNAME's identity key is trusted: first-use (the key\n"
    "seen first), verified (you compared the number) or accepted (a new key\n"
    "accepted without comparing). Compare the number with USERNAME in person or\n"
    "over another channel: both sides see the same digits.\n"
    "\n"
    "When USERNAME's identity key has changed since, the new key is not trusted:\n"
    "nothing is sent to it, messages made with it are held (kept, not shown), and\n"
    "the number for the new key is printed too. Use sotto trust to accept it.\n"
    "\n"
    "  --json            one JSON object: username, uuid, trust, safetyNumber,\n"
    "                    changed, newSafetyNumber (when changed), held\n"
    "\n"
    "Needs no network. Exit 7 when no key of USERNAME is known yet.\n";

static const char help_trust[] =
    "usage: sotto [-c DIR] trust USERNAME (--safety-number DIGITS | --accept-new-key)\n"
    "\n"
    "Trusts USERNAME's new identity key (see sotto safety): the old sessions\n"
    "are dropped, the next message starts new ones, and the messages held while\n"
    "the key was not trusted are decrypted and stored (receive prints them).\n"
    "\n"
    "  --safety-number DIGITS  the 60 digits you compared with USERNAME (spaces\n"
    "                    allowed; quote them); they must match the new key, else\n"
    "                    nothing changes and the exit code is 9. Without a new\n"
    "                    key, a matching number marks the current key verified.\n"
    "  --accept-new-key  trust the new key without comparing numbers\n"
    "\n"
    "Needs no network.\n";

static const char help_link[] =
    "usage: sotto [-c DIR] link --server URL [--cacert FILE | --pin SHA256]\n"
    "                  [--name LABEL] [--key-file]\n"
    "\n"
    "Run on the NEW device. Creates the encrypted store in DIR (a directory\n"
    "without a store), prints a link code on one line\n"
    "  sotto-link:<mailbox>.<key>\n"
    "and waits up to 10 minutes. On a device that already has the account, run\n"
    "  sotto add-device CODE\n"
    "with that code. This device then gets the account's identity, registers as\n"
    "a new device of the account and uploads its prekeys: it sends, receives and\n"
    "keeps history like the first one (what it had not received before linking\n"
    "is not copied over).\n"
    "\n"
    "  --server URL      the sottod base URL (the same server as the account's)\n"
    "  --cacert FILE     trust the CA (or self-signed certificate) in FILE (PEM)\n"
    "  --pin SHA256      trust exactly the server certificate with this SHA-256\n"
    "  --name LABEL      a label for this device, kept in this store only\n"
    "  --key-file        encrypt the store with a random key in DIR/store.key\n"
    "\n"
    "The code carries no secret: the account's keys travel sealed to a key that\n"
    "only this process holds, and the server cannot open them. Still, compare the\n"
    "code you type with the one printed here: whoever's code you use gets the account.\n"
    "Exit 7 when the code expired, 5 when the server refused the link token.\n";

static const char help_add_device[] =
    "usage: sotto [-c DIR] add-device CODE\n"
    "\n"
    "Run on a device that has the account, with the code that sotto link printed\n"
    "on the new device. Asks the server for a one-time link token (valid 10\n"
    "minutes) and sends the new device, sealed to its key, the account's\n"
    "identity key pair, uuid, username and the token. Anyone holding the new\n"
    "device then holds the account: only link your own devices.\n"
    "\n"
    "Exit 2 for a malformed code, 7 when no device waits with it (expired),\n"
    "10 when it was already used.\n";

static const char help_devices[] =
    "usage: sotto [-c DIR] devices [--json]\n"
    "\n"
    "Lists the devices of this account as the server has them: the device id\n"
    "and the day it was added; this device is marked.\n"
    "\n"
    "  --json            one JSON object per line: {\"id\",\"created\",\"current\"}\n";

static const char help_unlink[] =
    "usage: sotto [-c DIR] unlink ID\n"
    "\n"
    "Removes device ID (see sotto devices) from this account: the server\n"
    "deletes its credentials, keys and queued messages and closes its\n"
    "connections. Senders learn of it at their next message. Device 1 (the one\n"
    "that registered) cannot be removed, and a device cannot remove itself.\n"
    "Device ids are never reused.\n"
    "\n"
    "Exit 7 when there is no such device, 2 for device 1 or this device.\n";

void sotto_cli_help(FILE *f, sotto_cmd cmd)
{
    const char *t = help_main;
    switch (cmd) {
    case SOTTO_CMD_REGISTER: t = help_register; break;
    case SOTTO_CMD_SEND: t = help_send; break;
    case SOTTO_CMD_RECEIVE: t = help_receive; break;
    case SOTTO_CMD_HISTORY: t = help_history; break;
    case SOTTO_CMD_DAEMON: t = help_daemon; break;
    case SOTTO_CMD_SAFETY: t = help_safety; break;
    case SOTTO_CMD_TRUST: t = help_trust; break;
    case SOTTO_CMD_LINK: t = help_link; break;
    case SOTTO_CMD_ADD_DEVICE: t = help_add_device; break;
    case SOTTO_CMD_DEVICES: t = help_devices; break;
    case SOTTO_CMD_UNLINK: t = help_unlink; break;
    case SOTTO_CMD_NONE: break;
    }
    fputs(t, f);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

sotto_cstatus sotto_cli_parse_pin(unsigned char pin[32], const char *s, char *err)
{
    size_t n = 0;
    int hi = -1;
    memset(pin, 0, 32);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == ':' && hi < 0)
            continue;
        int v = hexval(*p);
        if (v < 0 || (hi < 0 && n == 32))
            return sotto_cfail(err, SOTTO_C_USAGE, "--pin: expected 64 hex digits (SHA-256)");
        if (hi < 0) {
            hi = v;
        } else {
            pin[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    if (n != 32 || hi >= 0) {
        memset(pin, 0, 32);
        return sotto_cfail(err, SOTTO_C_USAGE, "--pin: expected 64 hex digits (SHA-256)");
    }
    return SOTTO_C_OK;
}

enum { OPT_SERVER = 256, OPT_USERNAME, OPT_CACERT, OPT_PIN, OPT_KEYFILE, OPT_JSON, OPT_VERSION, OPT_SAFETY_NUMBER,
       OPT_ACCEPT_NEW_KEY, OPT_NAME };

static sotto_cstatus parse_long(long *out, const char *s, char *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return sotto_cfail(err, SOTTO_C_USAGE, "not a number: %s", s);
    if (v > SOTTO_CLI_MAX_TIMEOUT)
        return sotto_cfail(err, SOTTO_C_USAGE, "--timeout: at most %d seconds", SOTTO_CLI_MAX_TIMEOUT);
    *out = v;
    return SOTTO_C_OK;
}

static sotto_cstatus parse_command(sotto_cli *c, int argc, char **argv, char *err)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"server", required_argument, NULL, OPT_SERVER},
        {"username", required_argument, NULL, OPT_USERNAME},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"pin", required_argument, NULL, OPT_PIN},
        {"key-file", no_argument, NULL, OPT_KEYFILE},
        {"message", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"safety-number", required_argument, NULL, OPT_SAFETY_NUMBER},
        {"accept-new-key", no_argument, NULL, OPT_ACCEPT_NEW_KEY},
        {"name", required_argument, NULL, OPT_NAME},
        {NULL, 0, NULL, 0},
    };
    const char *name = sotto_cli_cmd_name(c->cmd);
    optind = 0; /* GNU: full re-initialisation, argv[0] is the command */
    opterr = 0;
    int ch;
    sotto_cstatus rc;
    int is_new = c->cmd == SOTTO_CMD_REGISTER || c->cmd == SOTTO_CMD_LINK; /* makes a store */
    while ((ch = getopt_long(argc, argv, ":hm:t:", opts, NULL)) != -1) {
        int ok = 0;
        switch (ch) {
        case 'h': c->help = 1; return SOTTO_C_OK;
        case OPT_SERVER: ok = is_new; c->server = optarg; break;
        case OPT_USERNAME: ok = c->cmd == SOTTO_CMD_REGISTER; c->username = optarg; break;
        case OPT_CACERT: ok = is_new; c->cacert = optarg; break;
        case OPT_PIN: ok = is_new; c->pin = optarg; break;
        case OPT_KEYFILE: ok = is_new; c->key_file = 1; break;
        case OPT_NAME: ok = c->cmd == SOTTO_CMD_LINK; c->device_name = optarg; break;
        case 'm': ok = c->cmd == SOTTO_CMD_SEND; c->message = optarg; break;
        case 't':
            ok = c->cmd == SOTTO_CMD_RECEIVE;
            if (ok && (rc = parse_long(&c->timeout, optarg, err)) != SOTTO_C_OK)
                return rc;
            break;
        case OPT_JSON:
            ok = c->cmd == SOTTO_CMD_RECEIVE || c->cmd == SOTTO_CMD_HISTORY || c->cmd == SOTTO_CMD_SAFETY ||
                 c->cmd == SOTTO_CMD_DEVICES;
            c->json = 1;
            break;
        case OPT_SAFETY_NUMBER: ok = c->cmd == SOTTO_CMD_TRUST; c->safety_number = optarg; break;
        case OPT_ACCEPT_NEW_KEY: ok = c->cmd == SOTTO_CMD_TRUST; c->accept_new_key = 1; break;
        case ':':
            return sotto_cfail(err, SOTTO_C_USAGE, "%s: %s needs a value", name, argv[optind - 1]);
        default:
            return sotto_cfail(err, SOTTO_C_USAGE, "%s: unknown option %s", name, argv[optind - 1]);
        }
        if (!ok)
            return sotto_cfail(err, SOTTO_C_USAGE, "%s: option %s does not apply", name, argv[optind - 1]);
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    switch (c->cmd) {
    case SOTTO_CMD_REGISTER:
        if (npos != 0)
            return sotto_cfail(err, SOTTO_C_USAGE, "register: unexpected argument %s", pos[0]);
        if (c->server == NULL || c->username == NULL)
            return sotto_cfail(err, SOTTO_C_USAGE, "register: --server and --username are required");
        if (c->cacert != NULL && c->pin != NULL)
            return sotto_cfail(err, SOTTO_C_USAGE, "register: give --cacert or --pin, not both");
        if (c->pin != NULL) {
            unsigned char pin[32];
            if ((rc = sotto_cli_parse_pin(pin, c->pin, err)) != SOTTO_C_OK)
                return rc;
        }
        if (strncmp(c->server, "https://", 8) != 0)
            return sotto_cfail(err, SOTTO_C_USAGE, "register: --server must be an https:// URL");
        break;
    case SOTTO_CMD_SEND:
        if (npos == 0)
            return sotto_cfail(err, SOTTO_C_USAGE, "send: name at least one USERNAME");
        if ((size_t)npos > SOTTO_CLI_MAX_RECIPIENTS)
            return sotto_cfail(err, SOTTO_C_USAGE, "send: at most %d recipients", SOTTO_CLI_MAX_RECIPIENTS);
        for (int i = 0; i < npos; i++)
            c->recipients[c->n_recipients++] = pos[i];
        break;
    case SOTTO_CMD_HISTORY:
    case SOTTO_CMD_SAFETY:
    case SOTTO_CMD_TRUST:
        if (npos != 1)
            return sotto_cfail(err, SOTTO_C_USAGE, "%s: name exactly one USERNAME", name);
        c->peer = pos[0];
        if (c->cmd == SOTTO_CMD_TRUST && (c->safety_number != NULL) == (c->accept_new_key != 0))
            return sotto_cfail(err, SOTTO_C_USAGE, "trust: give --safety-number DIGITS or --accept-new-key");
        break;
    case SOTTO_CMD_LINK:
        if (npos != 0)
            return sotto_cfail(err, SOTTO_C_USAGE, "link: unexpected argument %s", pos[0]);
        if (c->server == NULL)
            return sotto_cfail(err, SOTTO_C_USAGE, "link: --server is required");
        if (c->cacert != NULL && c->pin != NULL)
            return sotto_cfail(err, SOTTO_C_USAGE, "link: give --cacert or --pin, not both");
        if (c->pin != NULL) {
            unsigned char pin[32];
            if ((rc = sotto_cli_parse_pin(pin, c->pin, err)) != SOTTO_C_OK)
                return rc;
        }
        if (strncmp(c->server, "https://", 8) != 0)
            return sotto_cfail(err, SOTTO_C_USAGE, "link: --server must be an https:// URL");
        break;
    case SOTTO_CMD_ADD_DEVICE:
        if (npos != 1)
            return sotto_cfail(err, SOTTO_C_USAGE, "add-device: give exactly one link CODE");
        c->link_code = pos[0];
        break;
    case SOTTO_CMD_UNLINK: {
        if (npos != 1)
            return sotto_cfail(err, SOTTO_C_USAGE, "unlink: give exactly one device ID");
        char *end;
        errno = 0;
        long v = strtol(pos[0], &end, 10);
        if (errno != 0 || end == pos[0] || *end != '\0' || v < 1 || v > 127)
            return sotto_cfail(err, SOTTO_C_USAGE, "unlink: device ID is a number 1 to 127");
        c->device_id = (unsigned)v;
        break;
    }
    case SOTTO_CMD_RECEIVE:
    case SOTTO_CMD_DAEMON:
    case SOTTO_CMD_DEVICES:
        if (npos != 0)
            return sotto_cfail(err, SOTTO_C_USAGE, "%s: unexpected argument %s", name, pos[0]);
        break;
    case SOTTO_CMD_NONE:
        break;
    }
    return SOTTO_C_OK;
}

sotto_cstatus sotto_cli_parse(sotto_cli *c, int argc, char **argv, char *err)
{
    memset(c, 0, sizeof *c);
    c->timeout = SOTTO_CLI_DEFAULT_TIMEOUT;
    int i = 1;
    /* Global options, up to the command. */
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return sotto_cfail(err, SOTTO_C_USAGE, "%s needs a directory", a);
            c->dir = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            c->dir = a + 9;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            c->help = 1;
            return SOTTO_C_OK;
        } else if (strcmp(a, "--version") == 0) {
            c->version = 1;
            return SOTTO_C_OK;
        } else if (a[0] == '-') {
            return sotto_cfail(err, SOTTO_C_USAGE, "unknown option %s", a);
        } else {
            break;
        }
    }
    if (c->dir != NULL && c->dir[0] == '\0')
        return sotto_cfail(err, SOTTO_C_USAGE, "-c: empty directory");
    if (i >= argc)
        return sotto_cfail(err, SOTTO_C_USAGE, "no command (try sotto --help)");
    for (size_t k = 1; k < sizeof cmd_names / sizeof cmd_names[0]; k++) {
        if (strcmp(argv[i], cmd_names[k]) == 0)
            c->cmd = (sotto_cmd)k;
    }
    if (c->cmd == SOTTO_CMD_NONE)
        return sotto_cfail(err, SOTTO_C_USAGE, "unknown command %s (try sotto --help)", argv[i]);
    sotto_cstatus rc = parse_command(c, argc - i, argv + i, err);
    if (rc != SOTTO_C_OK) {
        sotto_cmd cmd = c->cmd;
        memset(c, 0, sizeof *c);
        c->cmd = cmd;
    }
    return rc;
}
