//! Hand-written histories with known verdicts, in the text format the
//! fault tests' drivers write (so the parser is exercised too).

mod common;

use lincheck::register::Registers;
use lincheck::{Limits, Verdict, brute, check, text};
use std::time::Duration;

fn verdict(h: &str) -> Verdict {
    let p = text::parse(h).expect("parses");
    let v = check(&Registers::default(), &p.history, Limits::default());
    // Every single-key hand-written history is small: brute force must agree.
    if p.history.len() <= brute::MAX_OPS
        && p.history
            .iter()
            .all(|o| o.input.key == p.history[0].input.key)
        && !matches!(v, Verdict::Unknown(_))
    {
        assert_eq!(
            v.is_linearizable(),
            brute::linearizable(&Registers::default(), &p.history),
            "brute force disagrees on:\n{h}"
        );
    }
    v
}

fn good(h: &str) {
    let v = verdict(h);
    assert!(
        v.is_linearizable(),
        "expected linearizable, got {v:?}:\n{h}"
    );
}

fn bad(h: &str) -> lincheck::Explanation {
    match verdict(h) {
        Verdict::NotLinearizable(e) => e,
        v => panic!("expected a violation, got {v:?}:\n{h}"),
    }
}

#[test]
fn sequential_write_then_read() {
    good(
        "0 a invoke x write 1
         10 a ok 1
         20 b invoke x read
         30 b ok 1 1",
    );
}

#[test]
fn concurrent_read_may_see_old_or_new() {
    for seen in ["nil 0", "1 1"] {
        good(&format!(
            "0 a invoke x write 1
             5 b invoke x read
             10 a ok
             12 b ok {seen}"
        ));
    }
}

#[test]
fn stale_read_after_write_completed() {
    let e = bad("0 a invoke x write 1
         10 a ok
         20 b invoke x read
         30 b ok nil 0");
    // The explanation names the read as the op that cannot be placed,
    // after the write.
    assert_eq!(e.key, "\"x\"");
    assert_eq!(e.linearized, vec![0]);
    assert_eq!(e.stuck, 1);
}

#[test]
fn stale_read_among_many_ops_points_at_the_read() {
    let mut h = String::new();
    let mut t = 0;
    for v in 1..=50 {
        h += &format!("{t} a invoke x write {v}\n{} a ok {v}\n", t + 5);
        t += 10;
    }
    // A read that returns the value of write 40 after write 50 completed.
    h += &format!("{t} b invoke x read\n{} b ok 40 40\n", t + 5);
    let e = bad(&h);
    assert_eq!(e.stuck, 50);
    assert_eq!(e.linearized.len(), 50);
}

#[test]
fn new_then_old_read_is_not_linearizable() {
    // The write is still running, but once one read saw it a later read
    // may not see the old value.
    bad("0 a invoke x write 1
         1 b invoke x read
         2 b ok 1 1
         3 c invoke x read
         4 c ok nil 0
         10 a ok");
}

#[test]
fn lost_cas() {
    // Two sequential successful CASes, then a read that misses the second.
    bad("0 a invoke x cas 0 1
         10 a ok 1
         20 b invoke x cas 1 2
         30 b ok 2
         40 c invoke x read
         50 c ok 1 1");
}

#[test]
fn two_successful_cas_from_the_same_version() {
    bad("0 a invoke x cas 0 1
         0 b invoke x cas 0 2
         10 a ok
         10 b ok");
}

#[test]
fn one_of_two_concurrent_cas_fails() {
    good(
        "0 a invoke x cas 0 1
         0 b invoke x cas 0 2
         10 a ok 1
         10 b ok badversion
         20 c invoke x read
         30 c ok 1 1",
    );
}

#[test]
fn cas_badversion_when_version_matched() {
    // Nothing else ran: the version was 0, so BadVersion is impossible.
    bad("0 a invoke x cas 0 1
         10 a ok badversion");
    // `fail badversion` is the same observation.
    bad("0 a invoke x cas 0 1
         10 a fail badversion");
}

#[test]
fn read_of_a_never_written_value() {
    bad("0 a invoke x write 1
         10 a ok
         20 b invoke x read
         30 b ok 42 1");
}

#[test]
fn read_with_right_value_wrong_version() {
    bad("0 a invoke x write 1
         10 a ok
         20 b invoke x read
         30 b ok 1 2");
}

#[test]
fn write_reporting_an_impossible_version() {
    bad("0 a invoke x write 1
         10 a ok 2");
}

#[test]
fn same_value_written_twice_versions_tell_them_apart() {
    good(
        "0 a invoke x write 7
         10 a ok 1
         20 a invoke x write 7
         30 a ok 2
         40 b invoke x read
         50 b ok 7 2",
    );
    bad("0 a invoke x write 7
         10 a ok 1
         20 a invoke x write 7
         30 a ok 2
         40 b invoke x read
         50 b ok 7 1");
}

#[test]
fn indeterminate_write_may_or_may_not_have_happened() {
    for seen in ["1 1", "nil 0"] {
        good(&format!(
            "0 a invoke x write 1
             5 a info timeout
             20 b invoke x read
             30 b ok {seen}"
        ));
    }
    // Never completed at all (no line): the same.
    good(
        "0 a invoke x write 1
         20 b invoke x read
         30 b ok 1 1",
    );
}

#[test]
fn indeterminate_write_cannot_be_undone() {
    bad("0 a invoke x write 1
         5 a info
         20 b invoke x read
         30 b ok 1 1
         40 b invoke x read
         50 b ok nil 0");
}

#[test]
fn indeterminate_write_cannot_act_before_its_invoke() {
    bad("0 b invoke x read
         10 b ok 1 1
         20 a invoke x write 1
         30 a info");
}

#[test]
fn indeterminate_cas_and_a_later_write() {
    // The lost CAS may have run before the write (read sees version 2) or
    // not at all (version 1)...
    for seen in ["7 2", "7 1"] {
        good(&format!(
            "0 a invoke x cas 0 5
             5 a info
             10 b invoke x write 7
             20 b ok
             30 c invoke x read
             40 c ok {seen}"
        ));
    }
    // ...but it cannot land after the write: its version would not match.
    bad("0 a invoke x cas 0 5
         5 a info
         10 b invoke x write 7
         20 b ok
         30 c invoke x read
         40 c ok 5 2");
}

#[test]
fn failed_op_took_no_effect() {
    // `fail` means definitely not applied: dropped from the history.
    bad("0 a invoke x write 9
         5 a fail
         20 b invoke x read
         30 b ok 9 1");
    good(
        "0 a invoke x write 9
         5 a fail
         20 b invoke x read
         30 b ok nil 0",
    );
}

#[test]
fn process_may_invoke_again_after_info() {
    good(
        "0 a invoke x write 1
         5 a info
         6 a invoke x write 2
         10 a ok
         20 b invoke x read
         30 b ok 1 2",
    );
}

#[test]
fn touching_intervals_are_concurrent() {
    // The read was invoked at the instant the write returned: either order.
    good(
        "0 a invoke x write 1
         10 a ok
         10 b invoke x read
         20 b ok nil 0",
    );
    bad("0 a invoke x write 1
         10 a ok
         11 b invoke x read
         20 b ok nil 0");
}

#[test]
fn keys_are_checked_separately_and_the_bad_one_named() {
    let e = bad("0 a invoke x write 1
         0 b invoke y write 2
         10 a ok
         10 b ok
         20 a invoke x read
         20 b invoke y read
         30 a ok 1 1
         30 b ok 1 1");
    assert_eq!(e.key, "\"y\"");
    assert_eq!(e.stuck, 3);
}

#[test]
fn initial_value() {
    let p = text::parse("0 a invoke x read\n1 a ok 5 0").unwrap();
    let m = Registers { initial: Some(5) };
    assert!(check(&m, &p.history, Limits::default()).is_linearizable());
    assert!(!check(&Registers::default(), &p.history, Limits::default()).is_linearizable());
}

/// 28 concurrent writes of unknown outcome, then a read of a value none
/// of them wrote: proving it bad means trying every subset (2^28 states).
fn explosive() -> String {
    let mut h = String::new();
    for i in 0..28 {
        h += &format!("0 p{i} invoke x write {i}\n");
    }
    h += "1 r invoke x read\n2 r ok 999 1\n";
    h
}

#[test]
fn state_limit_gives_unknown() {
    let p = text::parse(&explosive()).unwrap();
    let limits = Limits {
        max_states: 10_000,
        timeout: None,
    };
    let v = check(&Registers::default(), &p.history, limits);
    assert!(matches!(v, Verdict::Unknown(_)), "{v:?}");
}

#[test]
fn timeout_gives_unknown() {
    let p = text::parse(&explosive()).unwrap();
    let limits = Limits {
        max_states: usize::MAX,
        timeout: Some(Duration::from_millis(200)),
    };
    let v = check(&Registers::default(), &p.history, limits);
    assert!(matches!(v, Verdict::Unknown(_)), "{v:?}");
}

#[test]
fn parse_errors() {
    for h in [
        "x a invoke k read",
        "0 a invoke k frob",
        "0 a ok",
        "0 a invoke k read\n1 a invoke k read",
        "5 a invoke k read\n1 a ok nil 0",
        "0 a invoke k read\n1 a ok badversion",
        "0 a invoke k write 1\n1 a ok nil 0",
    ] {
        assert!(text::parse(h).is_err(), "should not parse: {h:?}");
    }
}
