#include <sodium.h>
#include "sotto/err.h"
#include "crypto/primitives.h"

sotto_err sotto_init(void)
{
    if (sodium_init() < 0)
        return SOTTO_ERR_CRYPTO;
    return sotto_crypto_init();
}
