/* sotto: the umbrella header. */
#ifndef SOTTO_H
#define SOTTO_H
#include "sotto/err.h"
#include "sotto/keys.h"
#include "sotto/session.h"
#include "sotto/fingerprint.h"
#include "sotto/group.h"
#include "sotto/sealed.h"
#endif
