//! A reference checker by exhaustive enumeration, for cross-checking
//! [`crate::check`] on tiny histories. It shares nothing with the real
//! search but the model: no event list, no memoization, and unknown-outcome ops are handled the other way round (each is either
//! dropped or placed anywhere after its invocation, rather than returning
//! at +infinity).

use crate::{History, Model};

/// Refuses histories over this many ops: the search is factorial.
pub const MAX_OPS: usize = 8;

/// Is there a legal order of the ops that respects real time?
pub fn linearizable<M: Model>(model: &M, history: &History<M>) -> bool {
    assert!(
        history.len() <= MAX_OPS,
        "brute force is for tiny histories"
    );
    // One model state is threaded through the search, so one object only.
    assert!(
        history
            .iter()
            .all(|o| model.key(&o.input) == model.key(&history[0].input)),
        "brute force checks single-key histories"
    );
    let unknown: Vec<usize> = (0..history.len())
        .filter(|&i| history[i].ret.is_none())
        .collect();
    // Every subset of the unknown-outcome ops may have taken effect.
    for mask in 0u32..(1 << unknown.len()) {
        let included: Vec<usize> = (0..history.len())
            .filter(|i| {
                unknown
                    .iter()
                    .position(|u| u == i)
                    .is_none_or(|k| mask & (1 << k) != 0)
            })
            .collect();
        if search(
            model,
            history,
            &included,
            &mut vec![false; history.len()],
            model.init(),
        ) {
            return true;
        }
    }
    false
}

/// `a` must precede `b` when `a` returned strictly before `b` was invoked.
fn precedes<I, O>(a: &crate::Operation<I, O>, b: &crate::Operation<I, O>) -> bool {
    a.ret.as_ref().is_some_and(|c| c.time < b.invoke)
}

fn search<M: Model>(
    model: &M,
    h: &History<M>,
    included: &[usize],
    done: &mut Vec<bool>,
    state: M::State,
) -> bool {
    if included.iter().all(|&i| done[i]) {
        return true;
    }
    for &i in included {
        if done[i] {
            continue;
        }
        // i may go next only if no other pending op must precede it.
        if included
            .iter()
            .any(|&j| j != i && !done[j] && precedes(&h[j], &h[i]))
        {
            continue;
        }
        let out = h[i].ret.as_ref().map(|c| &c.output);
        let Some(next) = model.step(&state, &h[i].input, out) else {
            continue;
        };
        done[i] = true;
        let ok = search(model, h, included, done, next);
        done[i] = false;
        if ok {
            return true;
        }
    }
    false
}
