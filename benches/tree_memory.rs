//! What a large tree costs in memory and in restart time, measured in
//! process: RSS per znode beyond its name and data, snapshot encode time and
//! size, and the time to rebuild the tree from that snapshot (the bulk of a
//! restart at a million znodes).
//!
//! ```sh
//! cargo bench --bench tree_memory                      # 1M znodes of 100 B under 1,000 parents
//! NODES=200000 PARENTS=100 DATA=100 cargo bench --bench tree_memory
//! ```
//!
//! The process allocator is the server's (jemalloc), so RSS is what the
//! server would hold for the same tree.

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{cmd, create, knob, tree_with_session};
use corral::tree::{Outcome, Tree, Txn, WriteOp};

mod common;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// RSS once jemalloc has given back what it freed (its decay is ~10 s; a
/// purge is asked for by letting the background threads run).
fn settled_rss_kib() -> u64 {
    std::thread::sleep(Duration::from_secs(12));
    rss_kib()
}

fn apply(tree: &mut Tree, session: i64, ops: Vec<WriteOp>) {
    let n = ops.len();
    let applied = tree.apply(&cmd(Txn::Multi {
        session,
        auth: vec![],
        ops,
    }));
    assert!(
        matches!(&applied.outcome, Outcome::Multi(r) if r.len() == n),
        "a batch of creates failed: {:?}",
        applied.outcome
    );
}

fn main() {
    let nodes = knob("NODES", 1_000_000);
    let parents = knob("PARENTS", 1_000).max(1);
    let data = knob("DATA", 100);
    let value = Bytes::from(vec![b'x'; data]);
    let base = rss_kib();
    let (mut tree, session) = tree_with_session();
    // The root and /zookeeper's own nodes.
    let base_nodes = tree.node_count();
    let t = Instant::now();
    let mut name_bytes = 0usize;
    let create = |path: String| create(path, value.clone());
    let parent_ops: Vec<WriteOp> = (0..parents).map(|p| create(format!("/p{p:05}"))).collect();
    for batch in parent_ops.chunks(1000) {
        apply(&mut tree, session, batch.to_vec());
    }
    let mut batch = Vec::with_capacity(1000);
    for i in 0..nodes {
        // Sequential-node names, as Curator and Kafka make them.
        let name = format!("item-{i:010}");
        name_bytes += name.len();
        batch.push(create(format!("/p{:05}/{name}", i % parents)));
        if batch.len() == 1000 {
            apply(&mut tree, session, std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        apply(&mut tree, session, batch);
    }
    let built = t.elapsed();
    assert_eq!(
        tree.node_count(),
        nodes + parents + base_nodes,
        "every create applied"
    );
    let loaded = settled_rss_kib();
    let payload = (name_bytes + nodes * data) as f64;
    let per_node = |kib: u64| ((kib.saturating_sub(base) * 1024) as f64 - payload) / nodes as f64;
    println!(
        "{nodes} znodes of {data} B under {parents} parents, built in {:.2} s",
        built.as_secs_f64()
    );
    println!(
        "RSS {base} -> {loaded} KiB: {:.0} B per znode beyond its name ({:.1} B avg) and data",
        per_node(loaded),
        name_bytes as f64 / nodes as f64
    );

    let t = Instant::now();
    let view = tree.snapshot_view();
    let viewed = t.elapsed();
    let t = Instant::now();
    let snap = view.encode();
    let encoded = t.elapsed();
    drop(view);
    println!(
        "snapshot: view {:.3} ms, encode {:.2} s, {:.1} MB",
        viewed.as_secs_f64() * 1e3,
        encoded.as_secs_f64(),
        snap.len() as f64 / 1e6
    );
    drop(tree);
    let t = Instant::now();
    let restored = match Tree::from_snapshot(&snap) {
        Ok(tree) => tree,
        Err(e) => panic!("snapshot did not decode: {e}"),
    };
    let decoded = t.elapsed();
    drop(snap);
    assert_eq!(restored.node_count(), nodes + parents + base_nodes);
    let after = settled_rss_kib();
    println!(
        "restore from snapshot: {:.2} s; RSS then {after} KiB: {:.0} B per znode beyond name and data",
        decoded.as_secs_f64(),
        per_node(after)
    );
}
