//! Generated histories: simulated real registers must always pass, and on
//! tiny histories (good, mutated, random) the checker must agree with the
//! brute-force enumeration. Seeds are fixed, so a failure is reproducible
//! from the seed it prints.

mod common;

use common::{Gen, Rng, generate, mutate, randomize, sub_history};
use lincheck::register::Registers;
use lincheck::{History, Limits, Verdict, brute, check};

/// `LINCHECK_SEEDS=N` scales the brute-force agreement runs (default 4000).
fn seeds() -> u64 {
    std::env::var("LINCHECK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000)
}

fn verdict(h: &History<Registers>) -> Verdict {
    check(&Registers::default(), h, Limits::default())
}

fn tiny(rng: &mut Rng, keys: usize, max_ops: usize) -> Gen {
    Gen {
        clients: 2 + rng.below(3) as usize,
        ops: 1 + rng.below(max_ops as u64) as usize,
        keys,
        values: 3,
        unknown_pct: [0, 15, 40][rng.below(3) as usize],
        version_pct: 50,
        spread: 1 + rng.below(6),
    }
}

#[test]
fn simulated_histories_always_pass() {
    // Ops of unknown outcome make the search exponential in the worst case
    // (each pending one may or may not have happened), so with them a
    // bounded search may answer Unknown; it must never answer "violation".
    let limits = Limits {
        max_states: 200_000,
        timeout: None,
    };
    let mut counts = std::collections::BTreeMap::<u64, (usize, usize)>::new();
    for seed in 0..3000u64 {
        let mut rng = Rng::new(seed);
        let g = Gen {
            clients: 1 + rng.below(10) as usize,
            ops: 1 + rng.below(200) as usize,
            keys: 1 + rng.below(3) as usize,
            values: 1 + rng.below(5) as i64,
            unknown_pct: [0, 5, 10][rng.below(3) as usize],
            version_pct: rng.below(101),
            spread: 1 + rng.below(20),
        };
        let h = generate(&g, &mut rng);
        let v = check(&Registers::default(), &h, limits);
        assert!(!v.is_violation(), "seed {seed}: {v:?}\n{h:#?}");
        if g.unknown_pct == 0 {
            assert!(v.is_linearizable(), "seed {seed}: {v:?}");
        }
        let c = counts.entry(g.unknown_pct).or_default();
        c.0 += 1;
        c.1 += usize::from(!v.is_linearizable());
    }
    for (pct, (n, unknown)) in &counts {
        println!(
            "simulated, {pct}% unknown outcomes: {n} histories, {unknown} Unknown, rest linearizable"
        );
        assert!(unknown * 50 <= *n, "too many Unknown: {unknown}/{n}");
    }
}

#[test]
fn simulated_histories_with_many_unknown_outcomes_never_fail() {
    let limits = Limits {
        max_states: 50_000,
        timeout: None,
    };
    let (mut n, mut unknown) = (0, 0);
    for seed in 0..1000u64 {
        let mut rng = Rng::new(3_000_000 + seed);
        let g = Gen {
            clients: 2 + rng.below(8) as usize,
            ops: 1 + rng.below(60) as usize,
            keys: 1,
            values: 1 + rng.below(5) as i64,
            unknown_pct: 30,
            version_pct: rng.below(101),
            spread: 1 + rng.below(20),
        };
        let h = generate(&g, &mut rng);
        let v = check(&Registers::default(), &h, limits);
        assert!(!v.is_violation(), "seed {seed}: {v:?}\n{h:#?}");
        n += 1;
        unknown += usize::from(!v.is_linearizable());
    }
    println!("simulated, 30% unknown outcomes, <=60 ops: {n} histories, {unknown} Unknown");
}

/// Which way each history class came out, for the report and to make sure
/// the classes are not degenerate (a mutation that never breaks anything
/// would make the agreement test vacuous).
#[derive(Default, Debug)]
struct Tally {
    linearizable: usize,
    violation: usize,
}

fn agree(seed: u64, class: &str, h: &History<Registers>, t: &mut Tally) {
    let fast = verdict(h);
    let slow = brute::linearizable(&Registers::default(), h);
    assert!(
        !matches!(fast, Verdict::Unknown(_)),
        "seed {seed} {class}: unknown"
    );
    assert_eq!(
        fast.is_linearizable(),
        slow,
        "seed {seed} {class}: checker says {fast:?}, brute force says {slow}\n{h:#?}"
    );
    // The order ops are listed in must not matter.
    let mut rev = h.clone();
    rev.reverse();
    assert_eq!(
        verdict(&rev).is_linearizable(),
        slow,
        "seed {seed} {class} reversed"
    );
    if slow {
        t.linearizable += 1;
    } else {
        t.violation += 1;
    }
}

#[test]
fn agrees_with_brute_force_on_tiny_histories() {
    let (mut good, mut mutated, mut random) =
        (Tally::default(), Tally::default(), Tally::default());
    for seed in 0..seeds() {
        let mut rng = Rng::new(seed);
        let g = tiny(&mut rng, 1, brute::MAX_OPS);
        let h = generate(&g, &mut rng);
        agree(seed, "simulated", &h, &mut good);
        let mut m = h.clone();
        if mutate(&mut m, &mut rng, g.values) {
            agree(seed, "mutated", &m, &mut mutated);
        }
        let mut r = h.clone();
        randomize(&mut r, &mut rng, g.values);
        agree(seed, "random", &r, &mut random);
    }
    println!("simulated: {good:?}\nmutated:   {mutated:?}\nrandom:    {random:?}");
    assert_eq!(good.violation, 0);
    // Both verdicts must be well represented among mutated and random ones.
    for t in [&mutated, &random] {
        assert!(t.violation > 500 && t.linearizable > 200, "{t:?}");
    }
}

#[test]
fn keys_split_agrees_with_brute_force_per_key() {
    let mut t = Tally::default();
    for seed in 0..seeds() / 2 {
        let mut rng = Rng::new(1_000_000_000 + seed);
        let g = tiny(&mut rng, 2, 12);
        let mut h = generate(&g, &mut rng);
        if rng.chance(70) {
            mutate(&mut h, &mut rng, g.values);
        }
        let per_key = ["k0", "k1"].iter().all(|k| {
            let s = sub_history(&h, k);
            s.len() > brute::MAX_OPS || brute::linearizable(&Registers::default(), &s)
        });
        // Skip the rare case of a key with too many ops for brute force.
        if ["k0", "k1"]
            .iter()
            .any(|k| sub_history(&h, k).len() > brute::MAX_OPS)
        {
            continue;
        }
        assert_eq!(
            verdict(&h).is_linearizable(),
            per_key,
            "seed {seed}\n{h:#?}"
        );
        if per_key {
            t.linearizable += 1;
        } else {
            t.violation += 1;
        }
    }
    println!("two-key histories: {t:?}");
    assert!(t.violation > 200 && t.linearizable > 200, "{t:?}");
}

#[test]
fn mutations_of_larger_histories_are_mostly_caught() {
    // No oracle at this size; this shows the checker still finds single
    // corrupted outputs among many ops (some mutations are legitimately
    // still linearizable, e.g. a concurrent read changed to another
    // concurrently written value).
    let (mut caught, mut total) = (0, 0);
    for seed in 0..500u64 {
        let mut rng = Rng::new(2_000_000 + seed);
        let g = Gen {
            clients: 5,
            ops: 100,
            keys: 1,
            values: 50,
            unknown_pct: 5,
            version_pct: 50,
            spread: 10,
        };
        let mut h = generate(&g, &mut rng);
        if !mutate(&mut h, &mut rng, g.values) {
            continue;
        }
        total += 1;
        let v = verdict(&h);
        assert!(!matches!(v, Verdict::Unknown(_)), "seed {seed}: {v:?}");
        if v.is_violation() {
            caught += 1;
        }
    }
    println!("100-op histories with one mutated output: {caught}/{total} not linearizable");
    assert!(caught * 2 > total, "{caught}/{total}");
}
