//! How long apply and monitoring hold the node lock on a large tree: a
//! failed multi under a parent with a million children, and what `mntr` and
//! `hash` ask of the tree (the rest of those words is O(1) or O(connections)).
//!
//! A plain timing harness rather than criterion: before multi undo was made
//! fine-grained, one failed 1,000-op multi here took far longer than
//! criterion's minimum sample count allows (and needed tens of GB), so
//! repetitions and sizes are knobs:
//!
//! ```sh
//! cargo bench --bench tree_scale                       # 1M children, 1,000-op multi, 5 reps
//! CHILDREN=1000000 OPS=10 REPS=2 cargo bench --bench tree_scale
//! ```
//!
//! Only the tree's public API is used, so the file also runs against older trees.

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{cmd, create, knob, tree_with_session};
use corral::tree::{Outcome, Txn, WriteOp};

mod common;

/// Min, median and max.
fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let show = |d: Duration| {
        if d < Duration::from_millis(1) {
            format!("{:>9.3} us", d.as_secs_f64() * 1e6)
        } else {
            format!("{:>9.3} ms", d.as_secs_f64() * 1e3)
        }
    };
    match (times.first(), times.get(times.len() / 2), times.last()) {
        (Some(lo), Some(mid), Some(hi)) => format!(
            "min {}  median {}  max {}  ({} reps)",
            show(*lo),
            show(*mid),
            show(*hi),
            times.len()
        ),
        _ => "no reps".to_string(),
    }
}

fn report(what: &str, times: Vec<Duration>) {
    println!("{what:<46} {}", summary(times));
}

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect()
}

fn main() {
    let children = knob("CHILDREN", 1_000_000);
    let ops = knob("OPS", 1_000).max(1);
    let reps = knob("REPS", 5).max(1);
    let (mut tree, session) = tree_with_session();
    let write = |op| Txn::Write {
        session,
        auth: vec![],
        op,
    };
    tree.apply(&cmd(write(create("/big".into(), Bytes::new()))));
    let started = Instant::now();
    for i in 0..children {
        tree.apply(&cmd(write(create(
            format!("/big/c{i:010}"),
            Bytes::from(vec![b'x'; 100]),
        ))));
    }
    let built = started.elapsed();
    println!(
        "tree: {} nodes, /big has {children} children; built in {:.2} s ({:.2} us per create)",
        tree.node_count(),
        built.as_secs_f64(),
        built.as_secs_f64() * 1e6 / children.max(1) as f64
    );

    // (a) ops-1 creates under /big, then a check that fails: all undone.
    let mut failed = Vec::new();
    for rep in 0..reps {
        let mut batch: Vec<WriteOp> = (0..ops - 1)
            // Names that sort before every child there: the costliest
            // place to add to a sorted list.
            .map(|i| create(format!("/big/a{rep}-{i}"), Bytes::from(vec![b'x'; 100])))
            .collect();
        batch.push(WriteOp::Check {
            path: "/big".into(),
            version: 99,
        });
        let multi = cmd(Txn::Multi {
            session,
            auth: vec![],
            ops: batch,
        });
        let t = Instant::now();
        let applied = tree.apply(&multi);
        failed.push(t.elapsed());
        assert!(
            matches!(&applied.outcome, Outcome::Multi(r) if r.len() == ops),
            "the multi should fail op by op"
        );
        drop(applied);
    }
    report(
        &format!("failed {ops}-op multi, {children} siblings"),
        failed,
    );

    // The same multi without the failing op, for comparison.
    let mut ok = Vec::new();
    for rep in 0..reps {
        let batch: Vec<WriteOp> = (0..ops)
            .map(|i| create(format!("/big/ok{rep}-{i}"), Bytes::from(vec![b'x'; 100])))
            .collect();
        let multi = cmd(Txn::Multi {
            session,
            auth: vec![],
            ops: batch,
        });
        let t = Instant::now();
        tree.apply(&multi);
        ok.push(t.elapsed());
    }
    report(
        &format!("successful {ops}-op multi, {children} siblings"),
        ok,
    );

    // setData of 1 MiB: the digest hashes data, so this shows its price.
    let big = Bytes::from(vec![b'z'; 1 << 20]);
    let sets = time(reps, || {
        tree.apply(&cmd(write(WriteOp::SetData {
            path: "/big".into(),
            data: Some(big.clone()),
            version: -1,
        })))
    });
    report("setData of 1 MiB", sets);

    // (b) What mntr reads from the tree under the node lock, and hash.
    let nodes = tree.node_count();
    let mntr = time(reps, || {
        (
            tree.node_count(),
            tree.ephemeral_count(),
            tree.sessions().count(),
            tree.approximate_data_size(),
        )
    });
    report(&format!("mntr's tree reads, {nodes} nodes"), mntr);
    let hash = time(reps, || tree.digest());
    report(&format!("hash (digest), {nodes} nodes"), hash);

    // Not monitoring, but also done under the node lock: a snapshot's bytes.
    let snap = time(1, || tree.to_snapshot().len());
    report(&format!("to_snapshot, {nodes} nodes"), snap);
}
