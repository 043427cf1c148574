//! A linearizability checker for histories recorded from real clients.
//!
//! A [`History`] is a list of [`Operation`]s, each with the process that ran
//! it, the time it was invoked, and either the time it returned with its
//! observed output or no return at all (unknown outcome: the client timed out
//! or lost its connection). [`check`] decides whether some total order of the
//! operations (a) respects real time: an operation that returned before
//! another was invoked comes first, and (b) is a legal run of the sequential
//! [`Model`], producing every observed output.
//!
//! The search is Wing & Gong's, with Lowe's just-in-time linearization and
//! memoization of (set of linearized operations, model state), as Porcupine
//! does; operations are split by [`Model::key`] first (P-compositionality:
//! a history is linearizable iff each per-key sub-history is, for objects
//! whose keys are independent, such as separate registers).
//!
//! An operation with unknown outcome is given a return time of +infinity and
//! an output that matches anything: it may be linearized anywhere after its
//! invocation, including after everything else, which is the same as "never
//! took effect".

pub mod brute;
pub mod register;
pub mod text;

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Debug;
    type Output: Debug;
    /// Operations on different keys never interact, so they are checked
    /// separately. Models of a single object use `()`.
    type Key: Clone + Eq + Hash + Ord + Debug;

    fn init(&self) -> Self::State;

    /// Apply `input` to `state`. With `output` given (the operation returned),
    /// returns the next state if the model can produce that output, else
    /// `None`. With `output` `None` (unknown outcome) it must return the state
    /// after the operation took effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    fn key(&self, input: &Self::Input) -> Self::Key;

    /// True if the op never changes the state (a read). Such an op with
    /// unknown outcome constrains nothing, so the checker drops it rather
    /// than carry it as a pending candidate to the end of the search.
    fn read_only(&self, _input: &Self::Input) -> bool {
        false
    }
}

/// One operation as a client saw it. Times are in any unit, from one clock
/// shared by all processes (a test driver's monotonic clock).
#[derive(Clone, Debug)]
pub struct Operation<I, O> {
    pub process: u64,
    pub invoke: u64,
    /// `None`: the operation never returned (unknown outcome).
    pub ret: Option<Completion<O>>,
    pub input: I,
}

#[derive(Clone, Debug)]
pub struct Completion<O> {
    pub time: u64,
    pub output: O,
}

pub type History<M> = Vec<Operation<<M as Model>::Input, <M as Model>::Output>>;

/// When to give up and answer [`Verdict::Unknown`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Memoized (linearized set, state) pairs, summed over keys.
    pub max_states: usize,
    pub timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_states: 10_000_000,
            timeout: Some(Duration::from_secs(60)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Explanation),
    /// The search hit a [`Limits`] bound; the string says which.
    Unknown(String),
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::NotLinearizable(_))
    }
}

/// Why a history is not linearizable: the deepest point the search reached.
/// All indices are into the history passed to [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// Debug form of the key whose sub-history failed.
    pub key: String,
    /// The longest legal linearization found of ops on that key, in order.
    pub linearized: Vec<usize>,
    /// Debug form of the model state after `linearized`.
    pub state: String,
    /// An operation that had returned by then but cannot be placed next
    /// (its output does not follow from `state`, nor from any other order).
    pub stuck: usize,
    /// The ops that were candidates at that point (invoked, not yet
    /// linearized, and invoked before `stuck` returned), none of which
    /// could be placed next without later getting stuck.
    pub candidates: Vec<usize>,
}

/// Check `history` against `model`.
pub fn check<M: Model>(model: &M, history: &History<M>, limits: Limits) -> Verdict {
    let deadline = limits.timeout.map(|t| Instant::now() + t);
    let mut by_key: HashMap<M::Key, Vec<usize>> = HashMap::new();
    for (i, op) in history.iter().enumerate() {
        if op.ret.is_none() && model.read_only(&op.input) {
            continue;
        }
        by_key.entry(model.key(&op.input)).or_default().push(i);
    }
    let mut keys: Vec<_> = by_key.into_iter().collect();
    // Sorted so that the key reported on failure is deterministic.
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let mut budget = limits.max_states;
    let mut unknown = None;
    for (key, ids) in keys {
        match check_part(model, history, &ids, &mut budget, deadline) {
            Part::Ok => {}
            Part::Bad(mut e) => {
                e.key = format!("{key:?}");
                return Verdict::NotLinearizable(e);
            }
            // Keep going: another key may still prove a violation.
            Part::Unknown(why) => unknown = unknown.or(Some(format!("key {key:?}: {why}"))),
        }
    }
    match unknown {
        Some(why) => Verdict::Unknown(why),
        None => Verdict::Linearizable,
    }
}

enum Part {
    Ok,
    Bad(Explanation),
    Unknown(String),
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// A node of the doubly linked list of call and return events, in time order.
#[derive(Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    /// Index into the history (for the head: unused).
    op: usize,
    /// For a call: its return node. For a return: NIL.
    ret: usize,
}

/// Fixed-size bitset of linearized ops (indices local to one key).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Box<[u64]>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn subset_of(&self, other: &Bits) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }
}

fn check_part<M: Model>(
    model: &M,
    history: &History<M>,
    ids: &[usize],
    budget: &mut usize,
    deadline: Option<Instant>,
) -> Part {
    // Events: (time, is_return, local index). At equal times calls sort
    // before returns, so touching intervals count as concurrent: the
    // lenient reading, as the clock cannot order them.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ids.len());
    for (local, &g) in ids.iter().enumerate() {
        let op = &history[g];
        events.push((op.invoke, false, local));
        // Unknown outcome: returns at +infinity.
        let t = op.ret.as_ref().map_or(u64::MAX, |c| c.time);
        events.push((t, true, local));
    }
    events.sort_by_key(|&(t, is_ret, local)| (t, is_ret, local));

    let mut nodes = Vec::with_capacity(events.len() + 1);
    nodes.push(Node {
        prev: NIL,
        next: NIL,
        op: NIL,
        ret: NIL,
    });
    let mut ret_node = vec![NIL; ids.len()];
    let mut call_node = vec![NIL; ids.len()];
    for &(_, is_ret, local) in &events {
        let idx = nodes.len();
        nodes[idx - 1].next = idx;
        nodes.push(Node {
            prev: idx - 1,
            next: NIL,
            op: local,
            ret: NIL,
        });
        if is_ret {
            ret_node[local] = idx;
        } else {
            call_node[local] = idx;
        }
    }
    for local in 0..ids.len() {
        nodes[call_node[local]].ret = ret_node[local];
    }

    fn unlink(nodes: &mut [Node], n: usize) {
        let Node { prev, next, .. } = nodes[n];
        nodes[prev].next = next;
        if next != NIL {
            nodes[next].prev = prev;
        }
    }
    fn relink(nodes: &mut [Node], n: usize) {
        let Node { prev, next, .. } = nodes[n];
        nodes[prev].next = n;
        if next != NIL {
            nodes[next].prev = n;
        }
    }

    let mut state = model.init();
    // Ops with known outcome and ops without are numbered apart, so that
    // the linearized set splits into two bitsets.
    let mut sub = vec![0usize; ids.len()];
    let (mut n_known, mut n_unknown) = (0, 0);
    for (local, &g) in ids.iter().enumerate() {
        let n = if history[g].ret.is_some() {
            &mut n_known
        } else {
            &mut n_unknown
        };
        sub[local] = *n;
        *n += 1;
    }
    let is_unknown = |local: usize| history[ids[local]].ret.is_none();
    let mut lin = Bits::new(n_known);
    let mut lin_unknown = Bits::new(n_unknown);
    let mut cache = Memo::<M::State>::default();
    // (call node, state before it, pass it was tried in, first_ret then)
    let mut stack: Vec<(usize, M::State, bool, usize)> = Vec::new();
    let mut best: Option<Explanation> = None;
    let mut entry = nodes[HEAD].next;
    // Candidates at a search node are tried in two passes: first the ops
    // that returned, then those of unknown outcome. Both orders are
    // complete, but an unknown op can always wait until the end, and
    // placing one early (the list order) only changes the state that later
    // reads must match: with dozens of them pending, eager placement made
    // the search walk through subsets of them (seen as timeouts on
    // simulated, linearizable histories). The second pass walks backwards
    // from the first return, most recent invoke first: an unknown op that
    // a later read depends on is more likely recent than old (old ones that
    // took effect are usually placed already).
    let mut unknown_pass = false;
    // The first return event in the list at this search node: the end of
    // the candidates, and the op that is stuck if none fits.
    let mut first_ret = NIL;
    let mut iterations: u64 = 0;

    // Done when every op with known outcome is placed: the unknown ones
    // left can all go at the end (see Memo), and must be allowed to, as
    // the memo may refuse them as no-ops before that.
    let mut known_left = n_known;
    while known_left > 0 {
        iterations += 1;
        if iterations.is_multiple_of(4096)
            && let Some(d) = deadline
            && Instant::now() >= d
        {
            return Part::Unknown(format!(
                "timed out after {iterations} steps, {} states",
                cache.len()
            ));
        }
        let node = nodes[entry];
        if node.ret != NIL {
            // A call: try to linearize it now, if it belongs to this pass.
            let op = &history[ids[node.op]];
            let advance = if unknown_pass { node.prev } else { node.next };
            if op.ret.is_none() != unknown_pass {
                entry = advance;
                continue;
            }
            let out = op.ret.as_ref().map(|c| &c.output);
            if let Some(next) = model.step(&state, &op.input, out) {
                let (mut nk, mut nu) = (lin.clone(), lin_unknown.clone());
                if is_unknown(node.op) {
                    nu.set(sub[node.op]);
                } else {
                    nk.set(sub[node.op]);
                }
                // A node subsumed by one seen before led nowhere (or is
                // being explored above us): skip it.
                if cache.insert(&nk, &nu, &next) {
                    if cache.len() > *budget {
                        return Part::Unknown(format!(
                            "state limit reached ({} memoized states)",
                            cache.len()
                        ));
                    }
                    let prev = std::mem::replace(&mut state, next);
                    stack.push((entry, prev, unknown_pass, first_ret));
                    lin = nk;
                    lin_unknown = nu;
                    if !is_unknown(node.op) {
                        known_left -= 1;
                    }
                    unlink(&mut nodes, entry);
                    unlink(&mut nodes, node.ret);
                    entry = nodes[HEAD].next;
                    unknown_pass = false;
                    continue;
                }
            }
            entry = advance;
        } else if !unknown_pass {
            // End of the candidates with known outcome: now the others.
            unknown_pass = true;
            first_ret = entry;
            entry = node.prev;
        } else {
            // Back at the head: no candidate fits, yet first_ret's op must
            // already be linearized, so the last choice was wrong.
            if best
                .as_ref()
                .is_none_or(|b| stack.len() >= b.linearized.len())
            {
                best = Some(explain(&nodes, &stack, &state, ids, first_ret));
            }
            let Some((call, prev_state, pass, fr)) = stack.pop() else {
                break;
            };
            state = prev_state;
            unknown_pass = pass;
            first_ret = fr;
            let local = nodes[call].op;
            if is_unknown(local) {
                lin_unknown.clear(sub[local]);
            } else {
                lin.clear(sub[local]);
                known_left += 1;
            }
            let r = nodes[call].ret;
            // Relink in reverse order of unlinking.
            relink(&mut nodes, r);
            relink(&mut nodes, call);
            entry = if pass {
                nodes[call].prev
            } else {
                nodes[call].next
            };
        }
    }
    *budget = budget.saturating_sub(cache.len());
    if known_left == 0 {
        Part::Ok
    } else {
        Part::Bad(best.expect("failure records an explanation"))
    }
}

/// The memo of search nodes, with subsumption: node (K, U, S), where K and
/// U are the linearized ops of known and unknown outcome and S the state,
/// is subsumed by a visited (K, U', S) with U' a subset of U. The ops in
/// U \ U' can be placed at the very end of any completion of (K, U', S)
/// (they never return, so nothing must follow them, and their output
/// matches anything), so whatever completes (K, U, S) completes (K, U', S)
/// too; with U' = U this is Porcupine's plain memo. Without it, a wrongly
/// placed unknown op let the search try every subset of the other pending
/// unknown ops on top of it before backtracking: 2^k nodes.
struct Memo<S> {
    seen: HashMap<(Bits, S), Vec<Bits>>,
    len: usize,
}

impl<S> Default for Memo<S> {
    fn default() -> Self {
        Memo {
            seen: HashMap::new(),
            len: 0,
        }
    }
}

impl<S: Clone + Eq + Hash> Memo<S> {
    /// Records the node; false if it is subsumed by a recorded one.
    fn insert(&mut self, known: &Bits, unknown: &Bits, state: &S) -> bool {
        let list = self.seen.entry((known.clone(), state.clone())).or_default();
        if list.iter().any(|u| u.subset_of(unknown)) {
            return false;
        }
        list.push(unknown.clone());
        self.len += 1;
        true
    }
    fn len(&self) -> usize {
        self.len
    }
}

fn explain<S: Debug>(
    nodes: &[Node],
    stack: &[(usize, S, bool, usize)],
    state: &S,
    ids: &[usize],
    stuck_ret: usize,
) -> Explanation {
    let mut candidates = Vec::new();
    let mut n = nodes[HEAD].next;
    while n != NIL && n != stuck_ret {
        if nodes[n].ret != NIL {
            candidates.push(ids[nodes[n].op]);
        }
        n = nodes[n].next;
    }
    Explanation {
        key: String::new(),
        linearized: stack.iter().map(|(c, ..)| ids[nodes[*c].op]).collect(),
        state: format!("{state:?}"),
        stuck: ids[nodes[stuck_ret].op],
        candidates,
    }
}
