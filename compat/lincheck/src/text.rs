//! The text history format read by the `lincheck` binary (see README.md).
//!
//! ```text
//! # time process event ...
//! 100 c1 invoke x write 5
//! 105 c2 invoke x read
//! 130 c1 ok 1
//! 140 c2 ok 5 1
//! 150 c3 invoke x cas 1 7
//! 170 c3 ok badversion
//! ```

use crate::register::{Input, Op, Output, Registers, Value};
use crate::{Completion, History, Operation};
use std::collections::HashMap;

/// A parsed history, with the line each op was invoked on (for reports).
#[derive(Debug, Default)]
pub struct Parsed {
    pub history: History<Registers>,
    pub lines: Vec<usize>,
    pub processes: Vec<String>,
}

pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut proc_ids: HashMap<String, u64> = HashMap::new();
    // process id -> index of its op awaiting a completion
    let mut pending: HashMap<u64, usize> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: &str| format!("line {lineno}: {m}: {raw:?}");
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 3 {
            return Err(err("expected <time> <process> <event> ..."));
        }
        let time: u64 = w[0].parse().map_err(|_| err("bad time"))?;
        let next_id = proc_ids.len() as u64;
        let proc = *proc_ids.entry(w[1].to_string()).or_insert_with(|| {
            p.processes.push(w[1].to_string());
            next_id
        });
        let args = &w[3..];
        let int = |s: &str| s.parse::<i64>().map_err(|_| err("bad integer"));
        let version = |s: &str| s.parse::<i32>().map_err(|_| err("bad version"));
        match w[2] {
            "invoke" => {
                if pending.contains_key(&proc) {
                    return Err(err("invoke while this process has an op outstanding"));
                }
                let (key, op) = match args {
                    [key, "read"] => (key, Op::Read),
                    [key, "write", v] => (key, Op::Write(int(v)?)),
                    [key, "cas", e, v] => (
                        key,
                        Op::Cas {
                            expected: version(e)?,
                            value: int(v)?,
                        },
                    ),
                    _ => return Err(err("expected: invoke <key> read|write <v>|cas <ver> <v>")),
                };
                pending.insert(proc, p.history.len());
                p.history.push(Operation {
                    process: proc,
                    invoke: time,
                    ret: None,
                    input: Input {
                        key: key.to_string(),
                        op,
                    },
                });
                p.lines.push(lineno);
            }
            kind @ ("ok" | "fail" | "info") => {
                let Some(i) = pending.remove(&proc) else {
                    return Err(err("completion without an outstanding invoke"));
                };
                if time < p.history[i].invoke {
                    return Err(err("returns before its invoke"));
                }
                let op = &p.history[i].input.op;
                let output = match (kind, op, args) {
                    // Unknown outcome: stays with ret None.
                    ("info", _, _) => continue,
                    // Definitely not applied: mark for removal.
                    ("fail", _, []) => {
                        p.lines[i] = usize::MAX;
                        continue;
                    }
                    ("ok" | "fail", Op::Cas { .. }, ["badversion"]) => Output::BadVersion,
                    ("ok", Op::Read, [v, ver]) => Output::Read {
                        value: value(v).ok_or_else(|| err("bad value"))?,
                        version: version(ver)?,
                    },
                    ("ok", Op::Write(_) | Op::Cas { .. }, []) => Output::Written { version: None },
                    ("ok", Op::Write(_) | Op::Cas { .. }, [ver]) => Output::Written {
                        version: Some(version(ver)?),
                    },
                    _ => return Err(err("result does not fit the op")),
                };
                p.history[i].ret = Some(Completion { time, output });
            }
            _ => return Err(err("event must be invoke, ok, fail or info")),
        }
    }
    // Drop ops that failed without effect; they constrain nothing.
    let mut k = 0;
    p.history.retain(|_| {
        k += 1;
        p.lines[k - 1] != usize::MAX
    });
    p.lines.retain(|&l| l != usize::MAX);
    Ok(p)
}

fn value(s: &str) -> Option<Value> {
    if s == "nil" {
        Some(None)
    } else {
        s.parse().ok().map(Some)
    }
}
