"""Tiny raw ZooKeeper wire helpers for probing a server (facts for corral-diff).

Only loopback. Every function works on raw bytes so malformed frames can be sent.
"""
import socket, struct, time

def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def boolean(v): return b"\x01" if v else b"\x00"
def buf(b):
    if b is None: return i32(-1)
    return i32(len(b)) + b
def ustr(s):
    if s is None: return i32(-1)
    if isinstance(s, str): s = s.encode()
    return i32(len(s)) + s
def vec(items, enc):
    if items is None: return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)

OPEN_ACL = [(31, "world", "anyone")]
def acl_enc(a):
    perms, scheme, ident = a
    return i32(perms) + ustr(scheme) + ustr(ident)
def acls(lst=OPEN_ACL): return vec(lst, acl_enc)

# op bodies
def create_body(path, data=b"", acl=None, flags=0): return ustr(path) + buf(data) + acls(acl or OPEN_ACL) + i32(flags)
def create_ttl_body(path, data=b"", acl=None, flags=5, ttl=100000): return create_body(path, data, acl, flags) + i64(ttl)
def path_watch(path, w=False): return ustr(path) + boolean(w)
def delete_body(path, v=-1): return ustr(path) + i32(v)
def setdata_body(path, data=b"x", v=-1): return ustr(path) + buf(data) + i32(v)
def setacl_body(path, acl=None, v=-1): return ustr(path) + acls(acl or OPEN_ACL) + i32(v)
def check_body(path, v=-1): return ustr(path) + i32(v)
def path_int(path, n): return ustr(path) + i32(n)
def setwatches_body(rz=0, d=(), e=(), c=()): return i64(rz) + vec(list(d), ustr) + vec(list(e), ustr) + vec(list(c), ustr)
def setwatches2_body(rz=0, d=(), e=(), c=(), p=(), r=()): return setwatches_body(rz, d, e, c) + vec(list(p), ustr) + vec(list(r), ustr)
def auth_body(scheme, cred, typ=0): return i32(typ) + ustr(scheme) + buf(cred)
def multi_body(ops):
    """ops: list of (type, body_bytes)"""
    out = b""
    for t, b in ops:
        out += i32(t) + boolean(False) + i32(-1) + b
    return out + i32(-1) + boolean(True) + i32(-1)

class Closed(Exception): pass

class Conn:
    def __init__(self, port, timeout_ms=30000, sid=0, pw=b"\0" * 16, host="127.0.0.1", last_zxid=0):
        self.s = socket.create_connection((host, port), timeout=3)
        body = i32(0) + i64(last_zxid) + i32(timeout_ms) + i64(sid) + buf(pw) + boolean(False)
        self.s.sendall(i32(len(body)) + body)
        r = self.recv_frame()
        self.proto, self.timeout = struct.unpack(">ii", r[:8])
        self.sid = struct.unpack(">q", r[8:16])[0]
        n = struct.unpack(">i", r[16:20])[0]
        self.pw = r[20:20 + n]
        self.events = []

    def recv_exact(self, n, timeout=3.0):
        self.s.settimeout(timeout)
        out = b""
        while len(out) < n:
            try:
                c = self.s.recv(n - len(out))
            except socket.timeout:
                raise TimeoutError("timeout after %d/%d bytes" % (len(out), n))
            except ConnectionResetError:
                raise Closed("reset")
            if not c:
                raise Closed("eof after %d bytes" % len(out))
            out += c
        return out

    def recv_frame(self, timeout=3.0):
        n = struct.unpack(">i", self.recv_exact(4, timeout))[0]
        return self.recv_exact(n, timeout)

    def send_raw(self, payload):
        """payload = bytes after the length prefix"""
        try:
            self.s.sendall(i32(len(payload)) + payload)
        except (BrokenPipeError, ConnectionResetError):
            raise Closed("send failed")

    def send(self, xid, op, body=b""):
        self.send_raw(i32(xid) + i32(op) + body)

    def reply(self, timeout=3.0):
        """next non-notification reply: (xid, zxid, err, body)"""
        while True:
            f = self.recv_frame(timeout)
            xid, zxid, err = struct.unpack(">iqi", f[:16])
            if xid == -1:
                self.events.append(f); continue
            return xid, zxid, err, f[16:]

    def call(self, xid, op, body=b"", timeout=3.0):
        self.send(xid, op, body)
        return self.reply(timeout)

    def ping(self):
        """(zxid) of a ping reply, or 'closed'/'timeout'"""
        try:
            x = self.call(-2, 11)
            return x[1]
        except Closed as e:
            return "closed(%s)" % e
        except TimeoutError:
            return "timeout"

    def is_open(self):
        p = self.ping()
        return not isinstance(p, str), p

    def close(self):
        try:
            self.call(99999, -11)
        except Exception:
            pass
        self.s.close()

def last_zxid(port):
    """server's last zxid as seen by a create on a throwaway... use observer instead"""
    raise NotImplementedError

class Observer:
    """a long-lived session that measures zxid use by creating sequential nodes"""
    def __init__(self, port):
        self.c = Conn(port)
        self.xid = 1
        self.c.call(self.next(), 1, create_body("/zx-obs", b""))

    def next(self):
        self.xid += 1; return self.xid

    def zxid(self):
        """zxid of a fresh write (consumes one)"""
        x = self.c.call(self.next(), 1, create_body("/zx-obs/n-", b"", flags=2))
        assert x[2] == 0, x
        return x[1]

def hexs(b): return b.hex()
