/* Placeholder until the primitives land; replaced by the real implementation. */
#include "crypto/primitives.h"
sotto_err sotto_crypto_init(void) { return SOTTO_OK; }
