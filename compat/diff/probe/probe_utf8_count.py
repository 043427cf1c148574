"""Item 3b: how many U+FFFD Java's decoder yields per malformed sequence (seen through watch paths),
and path validation boundaries."""
import sys, struct
from zkwire import *
port = int(sys.argv[1])
R = "\ufffd".encode()
SEQS = [b"\xed\xa0", b"\xed\xbf\xbf", b"\xed\xa0\x41", b"\xed\xb0\x80\xed", b"\xed\xa0\x80\x80", b"\xed\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf0\x90\x80", b"\xf4\x8f\xbf", b"\xf4\x90\x80", b"\xc2",b"\xff", b"\xc3", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xa0\xbd\xed\xb8\x80", b"\xe2\x82", b"\xf0\x9f\x98",
        b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\x80\x80\x80", b"\xfe\xff", b"\xe2\x82x", b"\xf0\x9f\x98x", b"\xf0\x80\x80\x80", b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf5\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80", b"\xe1\x80\xc0"]
for seq in SEQS:
    c = Conn(port)
    p = b"/q" + seq + b"z"
    x = c.call(1, 3, path_watch(p, True))  # exists watch on missing node
    found = None
    for k in range(0, 8):
        # the candidate decoded form: python tells us how it would look; try k replacements + any ascii kept
        kept = bytes(b for b in seq if b < 0x80)
        cand = b"/q" + R * k + kept + b"z"
        y = c.call(2, 17, path_int(cand, 2))
        if y[2] == 0: found = (k, cand); break
    py = (b"/q" + seq + b"z").decode("utf-8", "replace").count("\ufffd")
    print("%-28s exists err=%d | java replacements=%s | python/rust lossy=%d %s" % (seq.hex(" "), x[2], found[0] if found else "?", py, "" if found and found[0] == py else "<-- DIFFERS"))
    c.close()
print("--- path validation boundaries (create /v<char>)")
for cp in [0x01, 0x1f, 0x20, 0x7e, 0x7f, 0x9f, 0xa0, 0xd7ff, 0xe000, 0xf8fe, 0xf8ff, 0xf900, 0xffef, 0xfff0, 0xfff1, 0xfffd, 0xfffe, 0xffff, 0x10000, 0x10ffff]:
    c = Conn(port)
    p = b"/v" + chr(cp).encode()
    x = c.call(1, 1, create_body(p))
    if x[2] == 0: c.call(2, 2, delete_body(p))
    print("U+%04X create err=%d" % (cp, x[2])); c.close()
