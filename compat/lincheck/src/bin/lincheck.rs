//! `lincheck [--timeout-secs N] [--max-states N] [--initial V] [FILE]`
//!
//! Reads a register history (README.md) from FILE or stdin. Exit status:
//! 0 linearizable, 1 not linearizable, 2 unknown (a limit was hit),
//! 3 bad input or usage.

use lincheck::register::Registers;
use lincheck::{Limits, Verdict, check, text};
use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lincheck: {e}");
            ExitCode::from(3)
        }
    }
}

fn run() -> Result<u8, String> {
    let mut limits = Limits::default();
    let mut model = Registers::default();
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--timeout-secs" => {
                let s: f64 = val(&a)?.parse().map_err(|_| "bad --timeout-secs")?;
                limits.timeout = Some(Duration::from_secs_f64(s));
            }
            "--max-states" => {
                limits.max_states = val(&a)?.parse().map_err(|_| "bad --max-states")?;
            }
            "--initial" => {
                let v = val(&a)?;
                model.initial = if v == "nil" {
                    None
                } else {
                    Some(v.parse().map_err(|_| "bad --initial")?)
                };
            }
            "-h" | "--help" => {
                println!(
                    "usage: lincheck [--timeout-secs N] [--max-states N] [--initial V|nil] [FILE]\n\
                     exit: 0 linearizable, 1 not, 2 unknown, 3 bad input"
                );
                return Ok(0);
            }
            _ if file.is_none() && !a.starts_with("--") => file = Some(a),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let mut input = String::new();
    match &file {
        Some(f) if f != "-" => {
            input = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        }
        _ => {
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| e.to_string())?;
        }
    }
    let parsed = text::parse(&input)?;
    let started = Instant::now();
    let verdict = check(&model, &parsed.history, limits);
    let took = started.elapsed();
    let n = parsed.history.len();
    match verdict {
        Verdict::Linearizable => {
            println!("linearizable ({n} ops, {took:.2?})");
            Ok(0)
        }
        Verdict::Unknown(why) => {
            println!("unknown ({n} ops, {took:.2?}): {why}");
            Ok(2)
        }
        Verdict::NotLinearizable(e) => {
            let show = |i: usize| {
                let op = &parsed.history[i];
                format!(
                    "line {}: {} {:?} -> {}",
                    parsed.lines[i],
                    parsed.processes[op.process as usize],
                    op.input.op,
                    op.ret
                        .as_ref()
                        .map_or("(unknown outcome)".into(), |c| format!("{:?}", c.output)),
                )
            };
            println!("NOT linearizable ({n} ops, {took:.2?}), key {}", e.key);
            println!(
                "longest linearization found ({} ops), ending in state {}:",
                e.linearized.len(),
                e.state
            );
            // The tail is what matters; the full prefix can be thousands of ops.
            let skip = e.linearized.len().saturating_sub(20);
            if skip > 0 {
                println!("  ... {skip} earlier ops");
            }
            for &i in &e.linearized[skip..] {
                println!("  {}", show(i));
            }
            println!("cannot be placed next (returned before any order fits):");
            println!("  {}", show(e.stuck));
            println!("other candidates at that point, none of which leads anywhere:");
            for &i in e.candidates.iter().filter(|&&i| i != e.stuck).take(20) {
                println!("  {}", show(i));
            }
            Ok(1)
        }
    }
}
