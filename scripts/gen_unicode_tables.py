#!/usr/bin/env python3
"""Generates src/unicode_tables.c from the Unicode Character Database.

Usage:  python3 scripts/gen_unicode_tables.py [--unicodedata] [UCD_DIR] > src/unicode_tables.c
UCD_DIR defaults to /usr/share/unicode (Debian/Ubuntu: apt-get install unicode-data).
It reads UnicodeData.txt (general categories, simple case mappings) and PropList.txt
(White_Space), and writes sorted tables that src/unicode.c searches with bisection:
  - general-category runs: (first code point, category); a run lasts until the next one;
  - White_Space code points;
  - simple lowercase and uppercase mappings (UnicodeData fields 13 and 12).

--unicodedata takes the general categories from the running Python's unicodedata
module instead, after checking that it agrees with UnicodeData.txt on every code
point the file assigns. The committed tables were made so, with Python 3.13
(Unicode 15.1, the version llama.cpp b4748's tables were generated from) over
Debian's unicode-data 15.0 (15.1 added CJK ideographs only: no case mappings):
  python3.13 scripts/gen_unicode_tables.py --unicodedata > src/unicode_tables.c
"""

import os
import re
import sys

MAX_CODEPOINT = 0x10FFFF

# Order must match enum unicode_category in src/unicode.h (Cn = 0: unassigned).
CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
              "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
              "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]

# llama.cpp's whitespace set (scripts/gen-unicode-data.py there): PropList's White_Space.
# We read PropList.txt and check that it still says the same.
LLAMA_WHITESPACE = sorted(list(range(0x09, 0x0E)) + list(range(0x2000, 0x200B)) +
                          [0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def read_unicode_data(path):
    """Yields (code point, category, uppercase, lowercase), expanding First/Last ranges."""
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) != 15:
                raise ValueError("bad line in %s: %r" % (path, line))
            cp = int(fields[0], 16)
            name, cat = fields[1], fields[2]
            upper = int(fields[12], 16) if fields[12] else None
            lower = int(fields[13], 16) if fields[13] else None
            if name.endswith(", First>"):
                first = (cp, cat)
                continue
            if name.endswith(", Last>"):
                if first is None or first[1] != cat:
                    raise ValueError("unmatched range end at %04X" % cp)
                for c in range(first[0], cp + 1):
                    yield c, cat, None, None
                first = None
                continue
            yield cp, cat, upper, lower


def read_white_space(path):
    spaces = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*White_Space\b", line)
            if m:
                lo = int(m.group(1), 16)
                hi = int(m.group(2) or m.group(1), 16)
                spaces.extend(range(lo, hi + 1))
    return sorted(spaces)


def read_version(ucd_dir):
    """The version line of ReadMe.txt, or the header of DerivedAge.txt."""
    for name, pattern in (("ReadMe.txt", r"Version (\d+\.\d+\.\d+)"),
                          ("DerivedAge.txt", r"DerivedAge-(\d+\.\d+\.\d+)\.txt")):
        path = os.path.join(ucd_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                m = re.search(pattern, f.read(4096))
                if m:
                    return m.group(1)
    return "unknown"


def rows(items, per_line):
    for i in range(0, len(items), per_line):
        yield "    " + " ".join(items[i:i + per_line])


def main():
    args = sys.argv[1:]
    use_unicodedata = "--unicodedata" in args
    args = [a for a in args if a != "--unicodedata"]
    ucd_dir = args[0] if args else "/usr/share/unicode"
    version = read_version(ucd_dir)

    category = bytearray(MAX_CODEPOINT + 1)  # 0 = Cn
    lower, upper = [], []
    for cp, cat, up, lo in read_unicode_data(os.path.join(ucd_dir, "UnicodeData.txt")):
        category[cp] = CATEGORIES.index(cat)
        if lo is not None and lo != cp:
            lower.append((cp, lo))
        if up is not None and up != cp:
            upper.append((cp, up))

    source = "UnicodeData.txt %s" % version
    if use_unicodedata:
        import unicodedata
        for cp in range(MAX_CODEPOINT + 1):
            cat = CATEGORIES.index(unicodedata.category(chr(cp)))
            if category[cp] != 0 and category[cp] != cat:
                raise SystemExit("unicodedata disagrees with UnicodeData.txt at U+%04X" % cp)
            category[cp] = cat
        version = unicodedata.unidata_version
        source = "categories: Python unicodedata %s; case mappings, White_Space: %s" % (version, source)

    white_space = read_white_space(os.path.join(ucd_dir, "PropList.txt"))
    if white_space != LLAMA_WHITESPACE:
        raise SystemExit("PropList White_Space differs from llama.cpp's set; review the whitespace table")

    runs = [(0, category[0])]
    for cp in range(1, MAX_CODEPOINT + 1):
        if category[cp] != runs[-1][1]:
            runs.append((cp, category[cp]))

    out = []
    out.append("/* Generated by scripts/gen_unicode_tables.py from the Unicode Character Database")
    out.append(" * (%s; PropList.txt). Do not edit." % source)
    out.append(" * Regenerate: see the script's docstring. */")
    out.append('#include "unicode.h"')
    out.append("")
    out.append('const char unicode_tables_version[] = "%s";' % version)
    out.append("")
    out.append("#define R(first, cat) { first, UCAT_##cat }")
    out.append("/* Runs of one general category; each lasts until the next run's first code point. */")
    out.append("const struct unicode_category_run unicode_category_runs[] = {")
    out.extend(rows(["R(0x%X,%s)," % (cp, CATEGORIES[c]) for cp, c in runs], 6))
    out.append("};")
    out.append("#undef R")
    out.append("const size_t unicode_category_runs_len = sizeof unicode_category_runs / sizeof unicode_category_runs[0];")
    out.append("")
    out.append("const uint32_t unicode_white_space[] = {")
    out.extend(rows(["0x%X," % cp for cp in white_space], 10))
    out.append("};")
    out.append("const size_t unicode_white_space_len = sizeof unicode_white_space / sizeof unicode_white_space[0];")
    for name, table in (("lower", lower), ("upper", upper)):
        out.append("")
        out.append("/* Simple %scase mappings, sorted by code point. */" % name)
        out.append("const struct unicode_case_pair unicode_to_%s[] = {" % name)
        out.extend(rows(["{0x%X,0x%X}," % p for p in table], 6))
        out.append("};")
        out.append("const size_t unicode_to_%s_len = sizeof unicode_to_%s / sizeof unicode_to_%s[0];"
                   % (name, name, name))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
