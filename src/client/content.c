#include "content.h"

#include <string.h>

int sotto_text_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* The head both versions share after the version byte: uid, then the
 * timestamp (8 bytes, big-endian). */
static void put_head(uint8_t *out, uint8_t version, const uint8_t uid[SOTTO_MSG_UID_BYTES], int64_t ts)
{
    out[0] = version;
    memcpy(out + 1, uid, SOTTO_MSG_UID_BYTES);
    uint64_t t = (uint64_t)ts;
    for (int i = 0; i < 8; i++)
        out[1 + SOTTO_MSG_UID_BYTES + i] = (uint8_t)(t >> (56 - 8 * i));
}

static void get_head(const uint8_t *in, uint8_t uid[SOTTO_MSG_UID_BYTES], int64_t *ts)
{
    memcpy(uid, in + 1, SOTTO_MSG_UID_BYTES);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[1 + SOTTO_MSG_UID_BYTES + i];
    *ts = (int64_t)v;
}

sotto_cstatus sotto_content_encode(uint8_t *out, size_t *out_len, const uint8_t uid[SOTTO_MSG_UID_BYTES],
                                   int64_t ts, const char *sender, const uint8_t *text,
                                   size_t text_len, char *err)
{
    *out_len = 0;
    size_t sl = strlen(sender);
    if (sl == 0 || sl > SOTTO_PEER_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "bad sender name");
    if (text_len > SOTTO_TEXT_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "message longer than %u bytes", SOTTO_TEXT_MAX);
    if (!sotto_text_ok(text, text_len))
        return sotto_cfail(err, SOTTO_C_USAGE, "message is not UTF-8 text");
    put_head(out, SOTTO_CONTENT_VERSION, uid, ts);
    out[SOTTO_CONTENT_HEAD - 1] = (uint8_t)sl;
    memcpy(out + SOTTO_CONTENT_HEAD, sender, sl);
    if (text_len > 0)
        memcpy(out + SOTTO_CONTENT_HEAD + sl, text, text_len);
    *out_len = SOTTO_CONTENT_HEAD + sl + text_len;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_content_decode(const uint8_t *in, size_t len, uint8_t uid[SOTTO_MSG_UID_BYTES],
                                   int64_t *ts, char sender[SOTTO_PEER_MAX + 1],
                                   const uint8_t **text, size_t *text_len, char *err)
{
    memset(uid, 0, SOTTO_MSG_UID_BYTES);
    sender[0] = '\0';
    *ts = 0;
    *text = NULL;
    *text_len = 0;
    if (len < SOTTO_CONTENT_HEAD || len > SOTTO_CONTENT_MAX)
        return sotto_cfail(err, SOTTO_C_SERVER, "message content has a bad length");
    if (in[0] != SOTTO_CONTENT_VERSION)
        return sotto_cfail(err, SOTTO_C_SERVER, "message content version %u unknown", in[0]);
    size_t sl = in[SOTTO_CONTENT_HEAD - 1];
    if (sl == 0 || sl > SOTTO_PEER_MAX || sl > len - SOTTO_CONTENT_HEAD)
        return sotto_cfail(err, SOTTO_C_SERVER, "message content has a bad sender");
    const uint8_t *sn = in + SOTTO_CONTENT_HEAD;
    for (size_t i = 0; i < sl; i++) {
        if (sn[i] <= ' ' || sn[i] >= 0x7f || sn[i] == '/')
            return sotto_cfail(err, SOTTO_C_SERVER, "message content has a bad sender");
    }
    const uint8_t *t = sn + sl;
    size_t tl = len - SOTTO_CONTENT_HEAD - sl;
    if (!sotto_text_ok(t, tl))
        return sotto_cfail(err, SOTTO_C_SERVER, "message content is not UTF-8 text");
    get_head(in, uid, ts);
    memcpy(sender, sn, sl);
    sender[sl] = '\0';
    *text = t;
    *text_len = tl;
    return SOTTO_C_OK;
}

int sotto_content_kind(const uint8_t *in, size_t len)
{
    return len > 0 ? in[0] : 0;
}

/* A canonical username: 3..32 of [a-z0-9_.], a letter first, no "..", no final '.'. */
static int name_ok(const uint8_t *s, size_t n)
{
    if (n < 3 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (i > 0 && ((ch >= '0' && ch <= '9') || ch == '_' || ch == '.'));
        if (!ok || (ch == '.' && (i + 1 == n || s[i + 1] == '.')))
            return 0;
    }
    return 1;
}

sotto_cstatus sotto_transcript_encode(uint8_t *out, size_t *out_len, const uint8_t uid[SOTTO_MSG_UID_BYTES],
                                      int64_t ts, const char *sender, const char *recipient,
                                      const uint8_t *text, size_t text_len, char *err)
{
    *out_len = 0;
    size_t sl = strlen(sender), rl = strlen(recipient);
    if (!name_ok((const uint8_t *)sender, sl) || !name_ok((const uint8_t *)recipient, rl))
        return sotto_cfail(err, SOTTO_C_USAGE, "bad sender or recipient name");
    if (text_len > SOTTO_TEXT_MAX)
        return sotto_cfail(err, SOTTO_C_USAGE, "message longer than %u bytes", SOTTO_TEXT_MAX);
    if (!sotto_text_ok(text, text_len))
        return sotto_cfail(err, SOTTO_C_USAGE, "message is not UTF-8 text");
    put_head(out, SOTTO_TRANSCRIPT_VERSION, uid, ts);
    size_t o = SOTTO_CONTENT_HEAD - 1;
    out[o++] = (uint8_t)sl;
    memcpy(out + o, sender, sl);
    o += sl;
    out[o++] = (uint8_t)rl;
    memcpy(out + o, recipient, rl);
    o += rl;
    if (text_len > 0)
        memcpy(out + o, text, text_len);
    *out_len = o + text_len;
    return SOTTO_C_OK;
}

sotto_cstatus sotto_transcript_decode(const uint8_t *in, size_t len, uint8_t uid[SOTTO_MSG_UID_BYTES],
                                      int64_t *ts, char sender[SOTTO_PEER_MAX + 1],
                                      char recipient[SOTTO_PEER_MAX + 1], const uint8_t **text,
                                      size_t *text_len, char *err)
{
    memset(uid, 0, SOTTO_MSG_UID_BYTES);
    sender[0] = '\0';
    recipient[0] = '\0';
    *ts = 0;
    *text = NULL;
    *text_len = 0;
    if (len < SOTTO_CONTENT_HEAD + 1 || len > SOTTO_TRANSCRIPT_MAX)
        return sotto_cfail(err, SOTTO_C_SERVER, "transcript has a bad length");
    if (in[0] != SOTTO_TRANSCRIPT_VERSION)
        return sotto_cfail(err, SOTTO_C_SERVER, "transcript version %u unknown", in[0]);
    size_t o = SOTTO_CONTENT_HEAD - 1;
    size_t sl = in[o++];
    if (sl > len - o || !name_ok(in + o, sl))
        return sotto_cfail(err, SOTTO_C_SERVER, "transcript has a bad sender");
    const uint8_t *sn = in + o;
    o += sl;
    if (o >= len)
        return sotto_cfail(err, SOTTO_C_SERVER, "transcript has a bad recipient");
    size_t rl = in[o++];
    if (rl > len - o || !name_ok(in + o, rl))
        return sotto_cfail(err, SOTTO_C_SERVER, "transcript has a bad recipient");
    const uint8_t *rn = in + o;
    o += rl;
    const uint8_t *t = in + o;
    size_t tl = len - o;
    if (tl > SOTTO_TEXT_MAX || !sotto_text_ok(t, tl))
        return sotto_cfail(err, SOTTO_C_SERVER, "transcript is not UTF-8 text");
    get_head(in, uid, ts);
    memcpy(sender, sn, sl);
    sender[sl] = '\0';
    memcpy(recipient, rn, rl);
    recipient[rl] = '\0';
    *text = t;
    *text_len = tl;
    return SOTTO_C_OK;
}
