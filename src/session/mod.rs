//! Session liveness on this node: when each session was last heard from and
//! when it expires. Not replicated: the leader decides expiry and proposes
//! the close; a node that becomes leader gives every session a fresh timeout.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Tracker {
    deadlines: HashMap<i64, (Instant, Duration)>,
    /// Sessions whose close was proposed, and when (to re-propose if it got lost).
    closing: HashMap<i64, Instant>,
    /// Sessions this node's clients were heard from since the leader was last told.
    recent: HashSet<i64>,
    /// ZooKeeper's expiry granularity (tickTime) and where its intervals start.
    tick: Option<(Duration, Instant)>,
}

impl Tracker {
    /// Expire on tick boundaries, as ZooKeeper does: a deadline is rounded up
    /// to the next multiple of `tick`, so a session lives between its timeout
    /// and its timeout plus a tick, never less than ZooKeeper would give it.
    pub fn set_tick(&mut self, tick: Duration, now: Instant) {
        if !tick.is_zero() {
            self.tick = Some((tick, now));
        }
    }

    fn deadline(&self, at: Instant) -> Instant {
        round_up(self.tick, at)
    }

    /// A client of this node was heard from: push its deadline out by its
    /// timeout, and remember to tell the leader.
    pub fn touch(&mut self, session: i64, timeout: Duration, now: Instant) {
        self.heard(session, timeout, now);
        self.recent.insert(session);
    }

    /// Another node's client was heard from (on the leader).
    pub fn heard(&mut self, session: i64, timeout: Duration, now: Instant) {
        let deadline = self.deadline(now + timeout);
        self.deadlines.insert(session, (deadline, timeout));
    }

    /// The sessions to report to the leader, since the last report.
    pub fn take_recent(&mut self) -> Vec<i64> {
        let mut out: Vec<i64> = self.recent.drain().collect();
        out.sort_unstable();
        out
    }

    /// This node just became leader: every session gets a full timeout from
    /// now (deadlines kept from an earlier term are stale: clients may have
    /// been touching another leader all along), as a new ZooKeeper leader does.
    pub fn restart_all(&mut self, now: Instant) {
        let tick = self.tick;
        for (deadline, timeout) in self.deadlines.values_mut() {
            *deadline = round_up(tick, now + *timeout);
        }
        self.closing.clear();
    }

    /// Bring the tracker in line with the replicated session table: unknown
    /// sessions get a full timeout from now, closed ones are forgotten.
    pub fn sync<'a>(&mut self, live: impl Iterator<Item = (i64, i32)> + 'a, now: Instant) {
        let mut seen = HashMap::new();
        for (id, timeout_ms) in live {
            let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
            seen.insert(id, ());
            let deadline = self.deadline(now + timeout);
            self.deadlines.entry(id).or_insert((deadline, timeout));
        }
        self.deadlines.retain(|id, _| seen.contains_key(id));
        self.closing.retain(|id, _| seen.contains_key(id));
        self.recent.retain(|id| seen.contains_key(id));
    }

    /// Sessions past their deadline whose close should be proposed now.
    pub fn expired(&mut self, now: Instant, retry: Duration) -> Vec<i64> {
        let mut out = Vec::new();
        for (id, (deadline, _)) in &self.deadlines {
            if *deadline <= now {
                let due = self
                    .closing
                    .get(id)
                    .is_none_or(|at| now.duration_since(*at) >= retry);
                if due {
                    out.push(*id);
                }
            }
        }
        for id in &out {
            self.closing.insert(*id, now);
        }
        out.sort_unstable();
        out
    }

    /// Whether the session's close was proposed (it may not be resumed).
    pub fn is_closing(&self, session: i64) -> bool {
        self.closing.contains_key(&session)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Sessions whose close was proposed and not yet applied.
    pub fn closing_len(&self) -> usize {
        self.closing.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

/// `at`, rounded up to the next tick boundary counted from the epoch.
fn round_up(tick: Option<(Duration, Instant)>, at: Instant) -> Instant {
    let Some((tick, epoch)) = tick else {
        return at;
    };
    let since = at.saturating_duration_since(epoch).as_nanos();
    let tick_ns = tick.as_nanos().max(1);
    let rounded = since.div_ceil(tick_ns) * tick_ns;
    epoch + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_after_timeout_and_touch_extends() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        t.sync([(1, 1000), (2, 5000)].into_iter(), t0);
        assert!(
            t.expired(t0 + Duration::from_millis(999), Duration::from_secs(5))
                .is_empty()
        );
        t.touch(
            1,
            Duration::from_millis(1000),
            t0 + Duration::from_millis(900),
        );
        assert!(
            t.expired(t0 + Duration::from_millis(1500), Duration::from_secs(5))
                .is_empty()
        );
        assert_eq!(
            t.expired(t0 + Duration::from_millis(1900), Duration::from_secs(5)),
            vec![1]
        );
        // Proposed once; not again until the retry interval passes.
        assert!(
            t.expired(t0 + Duration::from_millis(2000), Duration::from_secs(5))
                .is_empty()
        );
        t.sync([(2, 5000)].into_iter(), t0);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn deadlines_round_up_to_the_next_tick_as_zookeepers_do() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Tracker::default();
        t.set_tick(ms(100), t0);
        // Touched at 30 ms with a 200 ms timeout: due at 230, rounded up to 300.
        t.touch(7, ms(200), t0 + ms(30));
        assert!(t.expired(t0 + ms(299), ms(1000)).is_empty());
        assert_eq!(t.expired(t0 + ms(300), ms(1000)), vec![7]);
        // Never earlier than the timeout itself, on a boundary too.
        t.touch(8, ms(200), t0 + ms(100));
        assert!(t.expired(t0 + ms(299), ms(1000)).is_empty());
        assert_eq!(t.expired(t0 + ms(300), ms(1000)), vec![8]);
    }
}
