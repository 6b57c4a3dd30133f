/* sottod: `sottod disclose <username>` prints everything the server holds
 * about one account (docs/PRIVACY.md lists and explains each item). */
#ifndef SOTTO_SERVER_DISCLOSE_H
#define SOTTO_SERVER_DISCLOSE_H

#include <stdio.h>
#include "store.h"

/* Writes a plain-text report to out: the account, its devices and keys (as
 * fingerprints), and its queued envelopes' metadata (sizes, times, senders;
 * never ciphertext bytes). SOTTO_STORE_ERR_NOT_FOUND for no such account,
 * SOTTO_STORE_ERR_INVALID_USERNAME for a name that breaks the rule,
 * SOTTO_STORE_ERR_DB if writing to out fails. Reads one consistent snapshot. */
sotto_store_err sotto_disclose_account(sotto_store *s, const char *username, FILE *out);

#endif
