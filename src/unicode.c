/* UTF-8 and character properties over the generated tables (src/unicode_tables.c). */
#include "unicode.h"

static bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

uint32_t unicode_decode_utf8(const char *s, size_t len, size_t *used)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char b0 = u[0];
    size_t need;
    uint32_t cpt;

    /* The lead byte alone says how long the sequence is; unlike strict UTF-8,
     * llama.cpp does not check for overlong forms or surrogates. */
    if (b0 < 0x80) { *used = 1; return b0; }
    if (b0 < 0xC0) goto invalid;
    if (b0 < 0xE0) { need = 2; cpt = b0 & 0x1Fu; }
    else if (b0 < 0xF0) { need = 3; cpt = b0 & 0x0Fu; }
    else if (b0 < 0xF8) { need = 4; cpt = b0 & 0x07u; }
    else goto invalid;

    if (len < need) goto invalid;
    for (size_t i = 1; i < need; i++) {
        if (!is_continuation(u[i])) goto invalid;
        cpt = (cpt << 6) | (u[i] & 0x3Fu);
    }
    if (cpt > 0x10FFFF) goto invalid;
    *used = need;
    return cpt;

invalid:
    *used = 1;
    return UNICODE_REPLACEMENT;
}

size_t unicode_encode_utf8(uint32_t cpt, char out[4])
{
    unsigned char *u = (unsigned char *)out;
    if (cpt > 0x10FFFF) cpt = UNICODE_REPLACEMENT;
    if (cpt < 0x80) { u[0] = (unsigned char)cpt; return 1; }
    if (cpt < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cpt >> 6));
        u[1] = (unsigned char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cpt >> 12));
        u[1] = (unsigned char)(0x80 | ((cpt >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cpt >> 18));
    u[1] = (unsigned char)(0x80 | ((cpt >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cpt >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cpt & 0x3F));
    return 4;
}

size_t unicode_sanitize_utf8(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t used;
        uint32_t cpt = unicode_decode_utf8(in + i, len - i, &used);
        n += unicode_encode_utf8(cpt, out + n);
        i += used;
    }
    return n;
}

bool unicode_is_canonical_utf8(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t used;
        char buf[4];
        uint32_t cpt = unicode_decode_utf8(s + i, len - i, &used);
        /* An invalid byte re-encodes as 3 bytes, an overlong form as fewer. */
        if (unicode_encode_utf8(cpt, buf) != used) return false;
        i += used;
    }
    return true;
}

enum unicode_category unicode_category(uint32_t cpt)
{
    if (cpt > 0x10FFFF) return UCAT_Cn;
    /* Last run whose first code point is <= cpt. */
    size_t lo = 0, hi = unicode_category_runs_len;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (unicode_category_runs[mid].first <= cpt) lo = mid;
        else hi = mid;
    }
    return (enum unicode_category)unicode_category_runs[lo].category;
}

unsigned unicode_category_flag(enum unicode_category cat)
{
    switch (cat) {
    case UCAT_Lu: case UCAT_Ll: case UCAT_Lt: case UCAT_Lm: case UCAT_Lo:
        return UFLAG_LETTER;
    case UCAT_Mn: case UCAT_Mc: case UCAT_Me:
        return UFLAG_MARK;
    case UCAT_Nd: case UCAT_Nl: case UCAT_No:
        return UFLAG_NUMBER;
    case UCAT_Pc: case UCAT_Pd: case UCAT_Ps: case UCAT_Pe: case UCAT_Pi: case UCAT_Pf: case UCAT_Po:
        return UFLAG_PUNCTUATION;
    case UCAT_Sm: case UCAT_Sc: case UCAT_Sk: case UCAT_So:
        return UFLAG_SYMBOL;
    case UCAT_Zs: case UCAT_Zl: case UCAT_Zp:
        return UFLAG_SEPARATOR;
    default:
        return UFLAG_OTHER;
    }
}

bool unicode_is_whitespace(uint32_t cpt)
{
    if (cpt < 0x80) return cpt == ' ' || (cpt >= 0x09 && cpt <= 0x0D);
    size_t lo = 0, hi = unicode_white_space_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (unicode_white_space[mid] < cpt) lo = mid + 1;
        else hi = mid;
    }
    return lo < unicode_white_space_len && unicode_white_space[lo] == cpt;
}

unsigned unicode_flags(uint32_t cpt)
{
    unsigned f = unicode_category_flag(unicode_category(cpt));
    return unicode_is_whitespace(cpt) ? f | UFLAG_WHITESPACE : f;
}

const char *unicode_category_name(enum unicode_category cat)
{
    static const char names[UCAT_COUNT][3] = {
        "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
        "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
    return (unsigned)cat < UCAT_COUNT ? names[cat] : "??";
}

static uint32_t case_map(const struct unicode_case_pair *table, size_t len, uint32_t cpt)
{
    size_t lo = 0, hi = len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid].from < cpt) lo = mid + 1;
        else hi = mid;
    }
    return lo < len && table[lo].from == cpt ? table[lo].to : cpt;
}

uint32_t unicode_tolower(uint32_t cpt)
{
    if (cpt < 0x80) return cpt >= 'A' && cpt <= 'Z' ? cpt + 32 : cpt;
    return case_map(unicode_to_lower, unicode_to_lower_len, cpt);
}

uint32_t unicode_toupper(uint32_t cpt)
{
    if (cpt < 0x80) return cpt >= 'a' && cpt <= 'z' ? cpt - 32 : cpt;
    return case_map(unicode_to_upper, unicode_to_upper_len, cpt);
}

/* Bytes GPT-2 kept as themselves: printable ASCII and Latin-1 minus the soft hyphen. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t unicode_byte_to_cpt(uint8_t byte)
{
    if (byte_is_printable(byte)) return byte;
    /* The n-th unprintable byte (in byte order) maps to U+0100 + n. */
    uint32_t n;
    if (byte <= 0x20) n = byte;                 /* 0x00..0x20: 33 bytes */
    else if (byte <= 0xA0) n = 33 + (byte - 0x7F); /* 0x7F..0xA0: 34 bytes */
    else n = 67;                                /* 0xAD */
    return 0x100 + n;
}

int unicode_cpt_to_byte(uint32_t cpt)
{
    if (cpt < 0x100) return byte_is_printable(cpt) ? (int)cpt : -1;
    if (cpt <= 0x100 + 32) return (int)(cpt - 0x100);
    if (cpt <= 0x100 + 66) return (int)(cpt - 0x100 - 33 + 0x7F);
    if (cpt == 0x100 + 67) return 0xAD;
    return -1;
}
