"""Extract llama.cpp's codepoint tables (src/unicode-data.cpp of llama.cpp v0.5.0, MIT) into
unicode-flags.txt and unicode-lower.txt for unicode_test.go:

    /usr/bin/python3 gen_unicode.py ~/.cache/llama-oracle/llama.cpp/src/unicode-data.cpp

unicode-flags.txt: "start flags" (hex) per range, as unicode_ranges_flags (a range ends where the
next starts). unicode-lower.txt: "cpt lower" (hex) per unicode_map_lowercase entry.
unicode-nfd.txt: "first last nfd" (hex) per unicode_ranges_nfd entry.
"""
import re, sys, os

src = open(sys.argv[1], encoding="utf-8").read()
here = os.path.dirname(os.path.abspath(__file__))

def block(name):
    i = src.index(name)
    return src[i:src.index("};", i)]

flags = re.findall(r"\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}", block("unicode_ranges_flags"))
with open(os.path.join(here, "unicode-flags.txt"), "w") as f:
    for a, b in flags:
        f.write("%x %x\n" % (int(a, 16), int(b, 16)))
lower = re.findall(r"\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}", block("unicode_map_lowercase"))
with open(os.path.join(here, "unicode-lower.txt"), "w") as f:
    for a, b in lower:
        f.write("%x %x\n" % (int(a, 16), int(b, 16)))
nfd = re.findall(r"\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}", block("unicode_ranges_nfd"))
with open(os.path.join(here, "unicode-nfd.txt"), "w") as f:
    for a, b, c in nfd:
        f.write("%x %x %x\n" % (int(a, 16), int(b, 16), int(c, 16)))
