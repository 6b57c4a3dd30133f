#define _POSIX_C_SOURCE 200809L
#include "secret.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Reads one line from the terminal with echo off into out (NUL-terminated). */
static sotto_cstatus prompt(const char *question, char *out, size_t cap, size_t *len, char *err)
{
    *len = 0;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return sotto_cfail(err, SOTTO_C_USAGE,
                           "the store needs a passphrase: set %s or run on a terminal", SOTTO_PASSPHRASE_ENV);
    struct termios old, quiet;
    int have_tio = tcgetattr(fd, &old) == 0;
    if (have_tio) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, question, strlen(question)) < 0) {
        /* nothing to do: the read below still works */
    }
    size_t n = 0;
    int toolong = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0 || ch == '\n')
            break;
        if (n + 1 < cap)
            out[n++] = ch;
        else
            toolong = 1;
    }
    out[n] = '\0';
    if (have_tio)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* ignored */
    }
    close(fd);
    if (toolong || n == 0) {
        sodium_memzero(out, cap);
        return sotto_cfail(err, SOTTO_C_USAGE, toolong ? "passphrase too long" : "empty passphrase");
    }
    *len = n;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_secret_get(const char *dir, int create, int key_file, sotto_store_secret *out, char *err)
{
    memset(out, 0, sizeof *out);
    sotto_cstatus rc;
    if (create && key_file) {
        out->is_raw = 1;
        return sotto_cstore_keyfile_create(dir, out->key, err);
    }
    if (!create) {
        rc = sotto_cstore_keyfile_read(dir, out->key, err);
        if (rc == SOTTO_C_OK) {
            out->is_raw = 1;
            return SOTTO_C_OK;
        }
        if (rc != SOTTO_C_NOT_FOUND)
            return rc;
    }
    const char *env = getenv(SOTTO_PASSPHRASE_ENV);
    if (env != NULL) {
        size_t n = strlen(env);
        if (n == 0 || n > SOTTO_PASSPHRASE_MAX)
            return sotto_cfail(err, SOTTO_C_USAGE, "%s must hold 1 to %d bytes", SOTTO_PASSPHRASE_ENV,
                               SOTTO_PASSPHRASE_MAX);
        memcpy(out->pass, env, n);
        out->pass_len = n;
        return SOTTO_C_OK;
    }
    char q[SOTTO_PATH_MAX + 64];
    snprintf(q, sizeof q, "%s for the store in %s: ", create ? "New passphrase" : "Passphrase", dir);
    rc = prompt(q, out->pass, sizeof out->pass, &out->pass_len, err);
    if (rc != SOTTO_C_OK || !create)
        return rc;
    char again[SOTTO_PASSPHRASE_MAX + 1];
    size_t n2;
    rc = prompt("Repeat the passphrase: ", again, sizeof again, &n2, err);
    if (rc == SOTTO_C_OK && (n2 != out->pass_len || sodium_memcmp(again, out->pass, n2) != 0))
        rc = sotto_cfail(err, SOTTO_C_USAGE, "the passphrases differ");
    sodium_memzero(again, sizeof again);
    if (rc != SOTTO_C_OK)
        sotto_store_secret_wipe(out);
    return rc;
}
