"""Item 5: four-letter words sent alone (exactly 4 bytes), whitelisted or not."""
import sys, socket, time
port = int(sys.argv[1])
WORDS = "ruok stat srvr mntr conf cons crst srst dump envi wchs wchc wchp dirs isro gtmk stmk hash".split()
for w in WORDS:
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
    t0 = time.time(); s.sendall(w.encode()); out = b""; how = "eof"
    try:
        while True:
            c = s.recv(65536)
            if not c: break
            out += c
    except socket.timeout: how = "TIMEOUT(5s, still open)"
    except ConnectionResetError: how = "reset"
    dt = time.time() - t0
    print("%s: %.2fs %s %dB %r" % (w, dt, how, len(out), out[:70]))
    s.close()
# stmk with a full 8-byte mask, then gtmk
for payload in [b"stmk" + (255).to_bytes(8, "big"), b"stmk\x00\x00", b"gtmk"]:
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5); s.sendall(payload); out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c: break
            out += c
    except socket.timeout: out += b"<TIMEOUT>"
    print(payload, "->", out[:80]); s.close()
