/* sotto client: where the store key comes from.
 *   an existing DIR/store.key (created by register --key-file), else
 *   SOTTO_PASSPHRASE from the environment, else
 *   a prompt on the controlling terminal (/dev/tty, echo off; asked twice
 *   when the store is being created). */
#ifndef SOTTO_CLIENT_SECRET_H
#define SOTTO_CLIENT_SECRET_H
#include "status.h"
#include "store.h"

#define SOTTO_PASSPHRASE_ENV "SOTTO_PASSPHRASE"

/* create: the store is new; key_file: make DIR/store.key. */
sotto_cstatus sotto_secret_get(const char *dir, int create, int key_file, sotto_store_secret *out, char *err);

#endif
