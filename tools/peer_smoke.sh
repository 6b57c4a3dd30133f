#!/bin/bash
# tools/peer-smoke: sotto-peer on its own (no Node needed), for what the
# interop driver does not cover as directly: malformed and oversized input
# get ok:false and exactly one reply per line, ids are echoed, failed
# requests change nothing, sign/verify round-trips, the peer exits 0 at EOF.
set -uo pipefail
peer=${1:?usage: peer_smoke.sh path/to/sotto-peer}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
check() { # description, condition (exit status of the rest)
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# Stage 1: requests that do not depend on replies.
big=$(head -c $((1024 * 1024 + 16)) /dev/zero | tr '\0' 'x')
{
  echo 'garbage'
  echo '{"cmd":"nope","id":7}'
  echo '{"cmd":"encrypt","peer":"bob","plaintext":"aGk=","id":"before-init"}'
  echo "{\"cmd\":\"sign\",\"message\":\"$big\",\"id\":8}"
  printf '{"cmd":"init",\0"id":9}\n'
  echo '{"cmd":"init","name":"alice","device":1,"registrationId":77,"id":10}'
  echo '{"cmd":"sign","message":"aGVsbG8=","id":11}'
  echo '{"cmd":"bundle","noPreKey":true,"id":12}'
  echo '{"cmd":"process_bundle","peer":"bob","device":1,"bundle":{},"id":13}'
  echo '{"cmd":"encrypt","peer":"bob","device":1,"plaintext":"aGk=","id":14}'
  echo '{"cmd":"decrypt","peer":"bob","device":1,"type":3,"ciphertext":"AAAA","id":15}'
  echo '{"cmd":"verify","key":"AAAA","message":"","signature":"AAAA","id":16}'
  echo '{"cmd":"init","device":0,"id":17}'
  echo '[]'
  echo '{"cmd":"save_session","peer":"bob","device":1,"id":18}'
  echo '{"cmd":"bundle","id":19}'
} >"$work/in1"
"$peer" <"$work/in1" >"$work/out1"
rc=$?
check "exits 0 at end of input" test "$rc" = 0
check "one reply per request line" test "$(wc -l <"$work/out1")" = "$(wc -l <"$work/in1")"
line() { sed -n "${1}p" "$work/out1"; }
has() { grep -q -- "$2" <<<"$(line "$1")"; }
check "malformed JSON refused" has 1 '"ok":false'
check "unknown command refused, id echoed" has 2 '"error":"unsupported command".*"id":7'
check "encrypt before init refused" has 3 '"ok":false.*"id":"before-init"'
check "oversized line refused" has 4 'longer than'
check "NUL inside a line refused" has 5 '"ok":false'
check "init" has 6 '"ok":true.*"id":10'
check "init: registration id" has 6 '"registrationId":77'
check "sign" has 7 '"signature":"[A-Za-z0-9+/=]\{88\}".*"ok":true'
check "bundle without one-time prekey" bash -c "! grep -q preKeyId <<<'$(line 8)' && grep -q kyberPreKeyId <<<'$(line 8)'"
check "bad bundle refused" has 9 '"ok":false.*"id":13'
check "encrypt without session refused" has 10 '"ok":false.*"id":14'
check "garbage prekey message refused" has 11 '"ok":false.*"id":15'
check "short key refused" has 12 '"ok":false.*"id":16'
check "device 0 refused" has 13 '"ok":false.*"id":17'
check "non-object refused" has 14 '"ok":false'
check "save_session without session refused" has 15 '"ok":false.*"id":18'
ik() { line "$1" | sed -n 's/.*"identityKey":"\([^"]*\)".*/\1/p'; }
check "a failed re-init keeps the identity" test -n "$(ik 6)" -a "$(ik 6)" = "$(ik 16)"
check "a fresh one-time prekey per bundle" has 16 '"preKeyId":2'

# Stage 2: another peer verifies the first one's signature.
key=$(ik 6)
sig=$(line 7 | sed -n 's/.*"signature":"\([^"]*\)".*/\1/p')
{
  echo '{"cmd":"init","name":"alice","id":1}'
  echo "{\"cmd\":\"verify\",\"key\":\"$key\",\"message\":\"aGVsbG8=\",\"signature\":\"$sig\",\"id\":2}"
  echo "{\"cmd\":\"verify\",\"key\":\"$key\",\"message\":\"aGVsbA==\",\"signature\":\"$sig\",\"id\":3}"
} >"$work/in2"
"$peer" <"$work/in2" >"$work/out2"
check "verify: own signature valid" grep -q '"valid":true.*"id":2' "$work/out2"
check "verify: changed message invalid" grep -q '"valid":false.*"id":3' "$work/out2"

if [ "$fails" -gt 0 ]; then echo "peer-smoke: $fails check(s) failed"; exit 1; fi
echo "peer-smoke: all checks passed"
