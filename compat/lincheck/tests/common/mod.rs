//! Shared by the test files: a seeded RNG and a generator of histories from
//! a simulated, really sequential register.
#![allow(dead_code)]

use lincheck::register::{Input, Op, Output, Registers, State};
use lincheck::{Completion, History, Model, Operation};

/// splitmix64: deterministic, so every failure names a reproducible seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub struct Gen {
    pub clients: usize,
    pub ops: usize,
    pub keys: usize,
    /// Values are drawn from 0..values: few values, so reads collide.
    pub values: i64,
    /// Percent of ops whose outcome is lost (no return recorded).
    pub unknown_pct: u64,
    /// Percent of successful setData returns that record the new version.
    pub version_pct: u64,
    /// Max gap/duration in time units; small values make ops overlap.
    pub spread: u64,
}

/// Simulate a real register: each op takes effect at one instant inside its
/// interval, in that order, so the history is linearizable by construction.
pub fn generate(g: &Gen, rng: &mut Rng) -> History<Registers> {
    struct Pending {
        lp: u64,
        tie: u64,
        idx: usize,
        effect: bool,
    }
    let mut h: History<Registers> = Vec::new();
    let mut lps = Vec::new();
    let mut clock = vec![0u64; g.clients];
    for _ in 0..g.ops {
        let c = rng.below(g.clients as u64) as usize;
        let invoke = clock[c] + rng.below(g.spread);
        let lp = invoke + rng.below(g.spread);
        let ret = lp + rng.below(g.spread);
        clock[c] = ret + 1;
        let key = format!("k{}", rng.below(g.keys as u64));
        let op = match rng.below(3) {
            0 => Op::Read,
            1 => Op::Write(rng.below(g.values as u64) as i64),
            // Expected versions near the likely current one, so that both
            // outcomes happen.
            _ => Op::Cas {
                expected: rng.below(1 + (h.len() / (g.keys * 2)) as u64 + 1) as i32,
                value: rng.below(g.values as u64) as i64,
            },
        };
        let unknown = rng.chance(g.unknown_pct);
        lps.push(Pending {
            lp,
            tie: rng.next(),
            idx: h.len(),
            // A lost op may or may not have taken effect.
            effect: !unknown || rng.chance(50),
        });
        h.push(Operation {
            process: c as u64,
            invoke,
            // Filled in below; the time is kept for known outcomes.
            ret: (!unknown).then_some(Completion {
                time: ret,
                output: Output::BadVersion,
            }),
            input: Input { key, op },
        });
    }
    lps.sort_by_key(|p| (p.lp, p.tie));
    let model = Registers::default();
    let mut states: std::collections::HashMap<String, State> = Default::default();
    for p in lps {
        if !p.effect {
            continue;
        }
        let op = &mut h[p.idx];
        let s = states.entry(op.input.key.clone()).or_insert(model.init());
        let out = match op.input.op {
            Op::Read => Output::Read {
                value: s.value,
                version: s.version,
            },
            Op::Write(v) => {
                *s = State {
                    value: Some(v),
                    version: s.version + 1,
                };
                Output::Written {
                    version: rng.chance(g.version_pct).then_some(s.version),
                }
            }
            Op::Cas { expected, value } => {
                if expected == s.version {
                    *s = State {
                        value: Some(value),
                        version: s.version + 1,
                    };
                    Output::Written {
                        version: rng.chance(g.version_pct).then_some(s.version),
                    }
                } else {
                    Output::BadVersion
                }
            }
        };
        if let Some(c) = &mut op.ret {
            c.output = out;
        }
    }
    h
}

/// Change one returned op's output to something else plausible. Returns
/// false if the history has no returned op.
pub fn mutate(h: &mut History<Registers>, rng: &mut Rng, values: i64) -> bool {
    let done: Vec<usize> = (0..h.len()).filter(|&i| h[i].ret.is_some()).collect();
    if done.is_empty() {
        return false;
    }
    let i = done[rng.below(done.len() as u64) as usize];
    let op = h[i].input.op.clone();
    let c = h[i].ret.as_mut().unwrap();
    c.output = match (&op, &c.output) {
        (_, Output::Read { value, version }) => {
            if rng.chance(50) {
                let mut v = rng.below(values as u64 + 1) as i64;
                if Some(v) == *value {
                    v = values + 1;
                }
                Output::Read {
                    value: if rng.chance(20) { None } else { Some(v) },
                    version: *version,
                }
            } else {
                Output::Read {
                    value: *value,
                    version: version + if rng.chance(50) { 1 } else { -1 },
                }
            }
        }
        (Op::Cas { .. }, Output::Written { .. }) => Output::BadVersion,
        (Op::Cas { .. }, Output::BadVersion) => Output::Written { version: None },
        (_, Output::Written { version }) => Output::Written {
            version: Some(version.map_or(rng.below(4) as i32, |v| v + 1)),
        },
        (_, o) => o.clone(),
    };
    true
}

/// Outputs drawn at random, ignoring any register: mostly bad histories.
pub fn randomize(h: &mut History<Registers>, rng: &mut Rng, values: i64) {
    for op in h.iter_mut() {
        let Some(c) = &mut op.ret else { continue };
        let v = rng.below(3) as i32;
        c.output = match op.input.op {
            Op::Read => Output::Read {
                value: if rng.chance(25) {
                    None
                } else {
                    Some(rng.below(values as u64) as i64)
                },
                version: v,
            },
            Op::Write(_) => Output::Written {
                version: rng.chance(50).then_some(v + 1),
            },
            Op::Cas { .. } if rng.chance(50) => Output::BadVersion,
            Op::Cas { .. } => Output::Written { version: None },
        };
    }
}

pub fn sub_history(h: &History<Registers>, key: &str) -> History<Registers> {
    h.iter().filter(|o| o.input.key == key).cloned().collect()
}
