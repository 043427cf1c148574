//! `corral-diff`: differential conformance between Apache ZooKeeper and Corral.
//!
//! The same op sequences (seeded random workloads, or scripted cases) go to
//! both servers over the raw protocol, one op at a time; every answer, Stat
//! field and watch event is compared. A difference is shrunk to a minimal op
//! sequence and printed with both answers side by side.

mod compare;
mod conn;
mod engine;
mod ops;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

use engine::{Allow, Config, Divergence, Engine};
use ops::Op;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The reference Apache ZooKeeper.
    #[arg(long, default_value = "127.0.0.1:26181")]
    zk: String,
    /// The Corral under test.
    #[arg(long, default_value = "127.0.0.1:26182")]
    corral: String,
    /// Seeds to run (comma-separated).
    #[arg(long, value_delimiter = ',')]
    seed: Vec<u64>,
    /// Ops per seed.
    #[arg(long, default_value_t = 300)]
    ops: usize,
    /// Scripted cases to run (text file).
    #[arg(long)]
    script: Vec<std::path::PathBuf>,
    /// Intended differences, one `rule reason` per line.
    #[arg(long)]
    allow: Option<std::path::PathBuf>,
    /// The servers' tickTime in ms (for expiry waits).
    #[arg(long, default_value_t = 200)]
    tick: u64,
    /// Do not shrink a difference.
    #[arg(long)]
    no_shrink: bool,
    /// Survey mode: do not stop a case at its first difference; print each
    /// differing op on one line and go on (later ones may be consequences).
    #[arg(long)]
    keep_going: bool,
    /// Replays the shrinker may use.
    #[arg(long, default_value_t = 120)]
    shrink_budget: usize,
    /// Print every op as it runs.
    #[arg(long, short)]
    verbose: bool,
    /// Print the generated ops of each seed and exit.
    #[arg(long)]
    print: bool,
}

fn tag() -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{}", std::process::id(), n % 1_000_000_000_000)
}

/// Replay `ops` from a fresh root and fresh sessions.
fn replay(cfg: &Config, ops: &[Op]) -> Result<Option<Divergence>, String> {
    let mut engine = Engine::new(cfg.clone(), &tag())?;
    for (i, op) in ops.iter().enumerate() {
        if let Err(d) = engine.step(i, op) {
            engine.finish();
            return Ok(Some(d));
        }
    }
    engine.finish();
    Ok(None)
}

fn verb(op: &str) -> &str {
    op.split_whitespace().nth(1).unwrap_or("")
}

/// Cut to the failing prefix, then drop chunks of ops while a difference of
/// the same kind (same verb at the failing op) remains.
fn shrink(cfg: &Config, ops: &[Op], first: Divergence, budget: usize) -> (Vec<Op>, Divergence) {
    let mut cur: Vec<Op> = ops[..=first.index.min(ops.len() - 1)].to_vec();
    let mut best = first;
    let want = verb(&best.op).to_string();
    let mut runs = 0;
    let started = Instant::now();
    let mut chunk = (cur.len() / 2).max(1);
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < cur.len() && runs < budget && started.elapsed() < Duration::from_secs(240) {
            let mut cand = cur.clone();
            cand.drain(i..(i + chunk).min(cand.len()));
            runs += 1;
            match replay(cfg, &cand) {
                Ok(Some(d)) if verb(&d.op) == want => {
                    cand.truncate(d.index + 1);
                    cur = cand;
                    best = d;
                    progress = true;
                }
                _ => i += chunk,
            }
        }
        if runs >= budget || started.elapsed() >= Duration::from_secs(240) {
            break;
        }
        if !progress {
            if chunk == 1 {
                break;
            }
            chunk = (chunk / 2).max(1);
        }
    }
    eprintln!("shrink: {runs} replays");
    (cur, best)
}

fn report(title: &str, ops: &[Op], d: &Divergence) {
    println!("DIFFERENCE in {title}");
    println!("minimal op sequence ({} ops):", ops.len());
    for op in ops {
        println!("  {op}");
    }
    println!("differs at op {}: {}", d.index, d.op);
    println!("why: {}", d.reason);
    println!("  {:<51} | corral", "   zookeeper");
    print!("{}", d.table);
}

/// Run every op, printing each difference on one line.
fn survey(cfg: &Config, title: &str, ops: &[Op]) -> Result<bool, String> {
    let mut engine = Engine::new(cfg.clone(), &tag())?;
    let mut found = 0;
    for (i, op) in ops.iter().enumerate() {
        if let Err(d) = engine.step(i, op) {
            found += 1;
            println!("DIFF {title} op {i}: {} -- {}", d.op, d.reason);
        }
    }
    engine.finish();
    println!(
        "{} {title}: {found} differing ops",
        if found == 0 { "ok  " } else { "DIFF" }
    );
    Ok(found == 0)
}

fn run_case(cfg: &Config, args: &Args, title: &str, ops: &[Op]) -> Result<bool, String> {
    if args.keep_going {
        return survey(cfg, title, ops);
    }
    let started = Instant::now();
    match replay(cfg, ops)? {
        None => {
            println!(
                "ok   {title}: {} ops in {:.1}s",
                ops.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(true)
        }
        Some(d) => {
            let (min, d) = if args.no_shrink {
                (ops[..=d.index.min(ops.len() - 1)].to_vec(), d)
            } else {
                shrink(cfg, ops, d, args.shrink_budget)
            };
            report(title, &min, &d);
            Ok(false)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print {
        for seed in &args.seed {
            for op in ops::generate(*seed, args.ops) {
                println!("{op}");
            }
        }
        return ExitCode::SUCCESS;
    }
    let allow = match &args.allow {
        None => Allow::default(),
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| Allow::parse(&t))
        {
            Ok(a) => a,
            Err(e) => {
                eprintln!("corral-diff: {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    let cfg = Config {
        zk: args.zk.clone(),
        corral: args.corral.clone(),
        allow,
        tick_ms: args.tick,
        verbose: args.verbose,
    };
    let mut cases: Vec<(String, Vec<Op>)> = Vec::new();
    for seed in &args.seed {
        cases.push((
            format!("seed {seed} ({} ops)", args.ops),
            ops::generate(*seed, args.ops),
        ));
    }
    for path in &args.script {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("corral-diff: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        match ops::parse_script(&text) {
            Ok(cs) => cases.extend(cs.into_iter().map(|c| (format!("case {}", c.name), c.ops))),
            Err(e) => {
                eprintln!("corral-diff: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = 0;
    let mut total_ops = 0;
    let started = Instant::now();
    for (title, ops) in &cases {
        total_ops += ops.len();
        match run_case(&cfg, &args, title, ops) {
            Ok(true) => {}
            Ok(false) => failed += 1,
            Err(e) => {
                eprintln!("corral-diff: {title}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!(
        "corral-diff: {} cases, {total_ops} ops, {failed} with differences, {:.1}s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
