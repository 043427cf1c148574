"""Unit tests of the cluster harness checkers: each must pass a good history and FAIL a bad one.
Run: LINCHECK_BIN=.../lincheck python3 -m unittest test_checkers  (run.sh does this first)."""
import os
import unittest

import checkers as C

LINCHECK = os.environ.get("LINCHECK_BIN", "lincheck")


class Register(unittest.TestCase):
    GOOD = """
0 c1 invoke /r write 1
10 c1 ok 1
20 c2 invoke /r read
30 c2 ok 1 1
40 c2 invoke /r cas 1 2
50 c2 ok 2
55 c1 invoke /r cas 1 3
60 c1 fail badversion
70 c3 invoke /r write 4
80 c3 info
90 c1 invoke /r read
95 c1 ok 2 2
"""
    # stale read: c2 reads the old value after c1's write was acknowledged
    STALE = """
0 c1 invoke /r write 1
10 c1 ok 1
20 c2 invoke /r read
30 c2 ok nil 0
"""
    # lost write: an acknowledged CAS vanishes (a later read sees the version before it)
    LOST = """
0 c1 invoke /r write 1
10 c1 ok 1
20 c2 invoke /r cas 1 2
30 c2 ok 2
40 c3 invoke /r read
50 c3 ok 1 1
"""

    def test_good(self):
        r = C.check_register(self.GOOD, LINCHECK, 10)
        self.assertTrue(r.ok, r.line())

    def test_stale_read_fails(self):
        r = C.check_register(self.STALE, LINCHECK, 10)
        self.assertFalse(r.ok)
        self.assertEqual(r.counts["lincheck"], "NOT-linearizable")

    def test_lost_write_fails(self):
        self.assertFalse(C.check_register(self.LOST, LINCHECK, 10).ok)

    def test_bad_input_fails(self):
        self.assertFalse(C.check_register("0 c1 frobnicate\n", LINCHECK, 10).ok)


def att(tok, inv, ret, outcome, seq=None):
    return {"token": tok, "invoke": inv, "ret": ret, "outcome": outcome,
            "name": None if seq is None else f"{tok}-{seq:010d}"}


class Seq(unittest.TestCase):
    def base(self):
        return [att("c1-0", 0, 10, "ok", 0), att("c2-0", 5, 15, "ok", 1),
                att("c1-1", 20, 30, "ok", 2), att("c2-1", 20, None, "info"),
                att("c1-2", 40, 50, "fail")]

    def test_good(self):
        a = self.base()
        present = ["c1-0-0000000000", "c2-0-0000000001", "c1-1-0000000002", "c2-1-0000000003"]
        r = C.check_seq(a, present)
        self.assertTrue(r.ok, r.line())
        self.assertEqual(r.counts["unknown"], 1)

    def test_unknown_may_be_absent(self):
        present = ["c1-0-0000000000", "c2-0-0000000001", "c1-1-0000000002"]
        self.assertTrue(C.check_seq(self.base(), present).ok)

    def test_lost_acked_create_fails(self):
        present = ["c1-0-0000000000", "c1-1-0000000002"]
        r = C.check_seq(self.base(), present)
        self.assertFalse(r.ok)
        self.assertEqual(r.counts["lost"], 1)

    def test_never_attempted_fails(self):
        present = ["c1-0-0000000000", "c2-0-0000000001", "c1-1-0000000002", "c9-9-0000000007"]
        r = C.check_seq(self.base(), present)
        self.assertFalse(r.ok)
        self.assertEqual(r.counts["phantom"], 1)

    def test_definitely_failed_but_present_fails(self):
        present = ["c1-0-0000000000", "c2-0-0000000001", "c1-1-0000000002", "c1-2-0000000004"]
        self.assertFalse(C.check_seq(self.base(), present).ok)

    def test_duplicate_fails(self):
        present = ["c1-0-0000000000", "c2-0-0000000001", "c1-1-0000000002",
                   "c2-1-0000000003", "c2-1-0000000004"]
        r = C.check_seq(self.base(), present)
        self.assertFalse(r.ok)
        self.assertEqual(r.counts["duplicates"], 1)

    def test_sequence_against_real_time_fails(self):
        a = [att("c1-0", 0, 10, "ok", 5), att("c2-0", 20, 30, "ok", 3)]
        r = C.check_seq(a, ["c1-0-0000000005", "c2-0-0000000003"])
        self.assertFalse(r.ok)
        self.assertEqual(r.counts["order_violations"], 1)

    def test_concurrent_creates_any_order(self):
        a = [att("c1-0", 0, 30, "ok", 5), att("c2-0", 10, 20, "ok", 3)]
        self.assertTrue(C.check_seq(a, ["c1-0-0000000005", "c2-0-0000000003"]).ok)


class Session(unittest.TestCase):
    def rec(self, **kw):
        r = {"connected_to": 2, "target": 2, "session_before": 0x100, "session_after": 0x100,
             "states": ["SUSPENDED", "CONNECTED"], "ephemeral_owner": 0x100, "expired": False}
        r.update(kw)
        return r

    def test_good(self):
        self.assertTrue(C.check_session(self.rec()).ok)

    def test_lost_fails(self):
        self.assertFalse(C.check_session(self.rec(states=["SUSPENDED", "LOST", "CONNECTED"])).ok)

    def test_new_session_fails(self):
        self.assertFalse(C.check_session(self.rec(session_after=0x200)).ok)

    def test_ephemeral_gone_fails(self):
        self.assertFalse(C.check_session(self.rec(ephemeral_owner=None)).ok)

    def test_wrong_node_fails(self):
        self.assertFalse(C.check_session(self.rec(connected_to=1)).ok)


class Curator(unittest.TestCase):
    W = {"acquisitions": 10, "increments": 10, "uncertain": 0, "conflicts": 0, "overlaps": 0,
         "errors": 0, "lost": 0}

    def test_good(self):
        self.assertTrue(C.check_curator([dict(self.W), dict(self.W)], 20, 2).ok)

    def test_parse(self):
        self.assertEqual(C.parse_worker_line("acquisitions=3 increments=2")["increments"], 2)

    def test_counter_short_fails(self):
        r = C.check_curator([dict(self.W), dict(self.W)], 19, 2)
        self.assertFalse(r.ok)

    def test_uncertain_allows_more(self):
        w = dict(self.W, uncertain=1)
        self.assertTrue(C.check_curator([w, dict(self.W)], 21, 2).ok)
        self.assertFalse(C.check_curator([w, dict(self.W)], 22, 2).ok)

    def test_overlap_fails(self):
        self.assertFalse(C.check_curator([dict(self.W, overlaps=1), dict(self.W)], 20, 2).ok)

    def test_conflict_fails(self):
        self.assertFalse(C.check_curator([dict(self.W, conflicts=1), dict(self.W)], 20, 2).ok)

    def test_missing_jvm_fails(self):
        self.assertFalse(C.check_curator([dict(self.W), None], 10, 2).ok)


def stat(**kw):
    s = {f: 0 for f in C.STAT_FIELDS}
    s.update(kw)
    return s


class Convergence(unittest.TestCase):
    def tree(self):
        return {"/": (b"", stat(numChildren=1)), "/a": (b"x", stat(version=1, mzxid=5))}

    def test_good(self):
        self.assertTrue(C.check_convergence({1: self.tree(), 2: self.tree(), 3: self.tree()}).ok)

    def test_missing_node_fails(self):
        t = self.tree()
        del t["/a"]
        self.assertFalse(C.check_convergence({1: self.tree(), 2: t, 3: self.tree()}).ok)

    def test_data_differs_fails(self):
        t = self.tree()
        t["/a"] = (b"y", t["/a"][1])
        self.assertFalse(C.check_convergence({1: self.tree(), 2: self.tree(), 3: t}).ok)

    def test_stat_differs_fails(self):
        t = self.tree()
        t["/a"] = (b"x", stat(version=1, mzxid=6))
        r = C.check_convergence({1: self.tree(), 2: self.tree(), 3: t})
        self.assertFalse(r.ok)
        self.assertIn("mzxid", r.problems[0])


    def test_zookeeper_config_mtime_is_local(self):
        t1, t2 = self.tree(), self.tree()
        t1["/zookeeper/config"] = (b"server.1=...", stat(mtime=1))
        t2["/zookeeper/config"] = (b"server.1=...", stat(mtime=2))
        self.assertTrue(C.check_convergence({1: t1, 2: t2}).ok)
        t2["/zookeeper/config"] = (b"server.1=...", stat(mtime=2, version=1))
        self.assertFalse(C.check_convergence({1: t1, 2: t2}).ok)


class Failover(unittest.TestCase):
    MS = 1_000_000

    def writes(self):
        ms = self.MS
        return [
            {"invoke": 0, "ret": 5 * ms, "outcome": "ok", "node": 1},
            {"invoke": 90 * ms, "ret": 400 * ms, "outcome": "ok", "node": 2},  # before fault
            {"invoke": 110 * ms, "ret": 300 * ms, "outcome": "ok", "node": 1},  # faulted node
            {"invoke": 120 * ms, "ret": 600 * ms, "outcome": "ok", "node": 2},
            {"invoke": 130 * ms, "ret": None, "outcome": "info", "node": None},
        ]

    def test_metrics(self):
        m = C.failover_metrics(self.writes(), 100 * self.MS, 700 * self.MS, target=1,
                               t_end=800 * self.MS)
        self.assertEqual(m["failover_ms"], 500.0)   # 600 - 100: invoked after, other node
        self.assertEqual(m["max_ms"], 480.0)
        self.assertEqual(m["max_gap_ms"], 200.0)    # 100->300->400->600->800
        self.assertEqual(m["unknown_in_window"], 1)
        self.assertTrue(C.check_failover(m, 0, 0).ok)

    def test_no_write_after_fault_fails(self):
        w = self.writes()[:3]
        m = C.failover_metrics(w, 100 * self.MS, 700 * self.MS, target=1)
        self.assertIsNone(m["failover_ms"])
        self.assertFalse(C.check_failover(m, 0, 0).ok)

    def test_losses_fail(self):
        m = C.failover_metrics(self.writes(), 100 * self.MS, 700 * self.MS, target=1)
        self.assertFalse(C.check_failover(m, 1, 0).ok)
        self.assertFalse(C.check_failover(m, 0, 2).ok)

    def test_percentile(self):
        self.assertEqual(C.percentile(list(range(1, 101)), 99), 99)
        self.assertEqual(C.percentile([7], 99), 7)


class Workers(unittest.TestCase):
    def test_results_are_read_and_a_silent_worker_is_none(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            stop, good, bad = (os.path.join(d, n) for n in ("stop", "good", "bad"))
            wait = f"while [ ! -e {stop} ]; do sleep 0.05; done"
            procs = [
                (subprocess.Popen(["sh", "-c", f"{wait}; echo acquisitions=3 increments=3 > {good}"]), good),
                (subprocess.Popen(["sh", "-c", wait]), bad),
            ]
            got = C.finish_workers(procs, stop, timeout=10)
        self.assertEqual(got, [{"acquisitions": 3, "increments": 3}, None])
        # a worker that wrote nothing fails the Curator check
        self.assertFalse(C.check_curator(got, 3, 2).ok)


if __name__ == "__main__":
    unittest.main()
