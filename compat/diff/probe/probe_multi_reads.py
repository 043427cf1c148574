"""Item 2: multi (14) / multiRead (22) with reads or writes of the wrong kind."""
import sys, struct
from zkwire import *
port = int(sys.argv[1])
obs = Observer(port)
s = Conn(port); s.call(1, 1, create_body("/mr", b"d")); s.close()
def parse_multi(b):
    out = []; i = 0
    while i < len(b):
        t, done, err = struct.unpack(">i?i", b[i:i+9]); i += 9
        if done: break
        if t == -1:
            e = struct.unpack(">i", b[i:i+4])[0]; i += 4; out.append("err%d" % e)
        else:
            out.append("type%d" % t); break  # bodies vary; stop parsing
    return out
def run(label, op, ops):
    c = Conn(port)
    b = obs.zxid()
    try:
        x = c.call(7, op, multi_body(ops), 3)
        r = "xid=%d zxid=%#x err=%d body=%dB %s" % (x[0], x[1], x[2], len(x[3]), parse_multi(x[3]) if x[3] else "")
    except Exception as e: r = repr(e)
    o = c.is_open(); a = obs.zxid()
    print("%-50s| before=%#x after=%#x consumed=%d | %s | open=%s" % (label, b, a, a-b-1, r, o[0]))
    if o[0]: c.close()
    else:
        try: Conn(port, sid=c.sid, pw=c.pw).close()
        except Exception: pass
GET = (4, path_watch("/mr")); KIDS = (8, path_watch("/mr")); KIDS2 = (12, path_watch("/mr")); EX = (3, path_watch("/mr"))
CR = lambda p: (1, create_body(p)); DL = lambda p: (2, delete_body(p)); SET = (5, setdata_body("/mr", b"q"))
CHK = (13, check_body("/mr", -1))
run("multi [getData] only", 14, [GET])
run("multi [getChildren] only", 14, [KIDS])
run("multi [getData, create]", 14, [GET, CR("/mr/a")])
run("multi [create, getData]", 14, [CR("/mr/b"), GET])
run("multi [create, set, getChildren]", 14, [CR("/mr/c"), SET, KIDS])
run("multi [create, getChildren, set]", 14, [CR("/mr/d"), KIDS, SET])
run("multi [create /mr/e (exists), getData] failing op first", 14, [CR("/mr"), GET])
run("multi [exists] only", 14, [EX])
run("multi [getChildren2] only", 14, [KIDS2])
run("multi [] empty", 14, [])
run("multi [check] only", 14, [CHK])
run("multiRead [create]", 22, [CR("/mr/f")])
run("multiRead [getData, create]", 22, [GET, CR("/mr/g")])
run("multiRead [getData, setData]", 22, [GET, SET])
run("multiRead [getData, check]", 22, [GET, CHK])
run("multiRead [] empty", 22, [])
run("multi [op type 99]", 14, [(99, ustr("/mr"))])
run("multi [sync]", 14, [(9, ustr("/mr"))])
run("multi [create, op 99]", 14, [CR("/mr/h"), (99, ustr("/mr"))])
c = Conn(port); print("children of /mr:", c.call(1, 8, path_watch("/mr"))); c.close()
