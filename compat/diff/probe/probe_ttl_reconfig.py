"""Item 7 (run against a server with zookeeper.extendedTypesEnabled=false) and item 8."""
import sys, struct
from zkwire import *
port = int(sys.argv[1])
obs = Observer(port)
def t(label, op, body, xid=7):
    c = Conn(port)
    b = obs.zxid()
    try:
        x = c.call(xid, op, body); r = "xid=%d zxid=%#x err=%d body=%s" % (x[0], x[1], x[2], x[3].hex())
    except Exception as e: r = repr(e)
    o = c.is_open(); a = obs.zxid()
    print("%-40s before=%#x | %s | consumed=%d open=%s" % (label, b, r, a - b - 1, o[0]))
    if o[0]: c.close()
    else:
        try: Conn(port, sid=c.sid, pw=c.pw).close()
        except Exception: pass
if sys.argv[2] == "ttl":
    t("createTTL lone", 21, create_ttl_body("/t1"))
    t("createTTL lone, ttl 0", 21, create_ttl_body("/t1b", ttl=0))
    t("createTTL lone, bad flags 0", 21, create_ttl_body("/t1c", flags=0))
    t("multi [createTTL]", 14, multi_body([(21, create_ttl_body("/t2"))]))
    t("multi [createTTL, create]", 14, multi_body([(21, create_ttl_body("/t3")), (1, create_body("/t3b"))]))
    t("multi [create, createTTL, create]", 14, multi_body([(1, create_body("/t4a")), (21, create_ttl_body("/t4")), (1, create_body("/t4b"))]))
    t("multi [create, createTTL]", 14, multi_body([(1, create_body("/t5a")), (21, create_ttl_body("/t5"))]))
    t("create (1) with TTL flags 5", 1, create_body("/t6", flags=5))
    t("create2 (15) with TTL flags 6", 15, create_body("/t7", flags=6))
    t("createContainer lone", 19, create_body("/t8", flags=4))
    c = Conn(port); print("children of /:", c.call(1, 8, path_watch("/"))[3]); c.close()
else:
    t("reconfig (16) empty strings", 16, ustr("") + ustr("") + ustr("") + i64(-1))
    t("reconfig (16) joining server", 16, ustr("server.2=127.0.0.1:2888:3888;2181") + ustr(None) + ustr(None) + i64(-1))
    t("reconfig (16) empty body", 16, b"")
    t("sasl (102) token", 102, buf(b"abc"))
    t("sasl (102) empty token", 102, buf(b""))
    t("sasl (102) empty body", 102, b"")
    t("sasl (102) xid -4? no: xid 9", 102, buf(b"abc"), xid=9)
    t("deleteContainer (20)", 20, ustr("/x"))
    t("op 99 unknown", 99, b"")
    t("createSession (-10)", -10, b"")
    t("error (-1) op", -1, b"")
    t("notification (0) op", 0, b"")
    t("check 13 lone existing", 13, check_body("/", -1))
