//! Comparing two servers' answers. Each answer is flattened into labelled
//! atoms; plain values must be equal, while zxids, session ids and times are
//! compared through mappings learned as the run goes.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// One value of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    I(i64),
    S(String),
    /// A zxid: compared through an order-preserving bijection.
    Zxid(i64),
    /// A session id: compared through a bijection (0 is 0).
    Sess(i64),
    /// A time in ms with the zxid of the txn that set it.
    Time {
        t: i64,
        zxid: i64,
    },
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::I(v) => write!(f, "{v}"),
            Atom::S(s) => write!(f, "{:?}", s),
            Atom::Zxid(z) => write!(f, "zxid {z:#x}"),
            Atom::Sess(s) => write!(f, "session {s:#x}"),
            Atom::Time { t, .. } => write!(f, "t {t}"),
        }
    }
}

/// An order-preserving bijection between two servers' values. Values ≤ 0
/// (0 for "none", −1 for "no zxid") map to themselves.
#[derive(Debug, Default, Clone)]
pub struct OrderMap {
    fwd: BTreeMap<i64, i64>,
    rev: BTreeMap<i64, i64>,
}

impl OrderMap {
    /// Learn or check that `a` (first server) corresponds to `b` (second).
    pub fn unify(&mut self, a: i64, b: i64) -> Result<(), String> {
        if a <= 0 || b <= 0 {
            return if a == b {
                Ok(())
            } else {
                Err(format!("{a:#x} vs {b:#x}: special value on one side only"))
            };
        }
        match (self.fwd.get(&a), self.rev.get(&b)) {
            (Some(&b2), _) if b2 != b => {
                return Err(format!(
                    "{a:#x} was seen with {b2:#x}, now with {b:#x} (different equalities)"
                ));
            }
            (_, Some(&a2)) if a2 != a => {
                return Err(format!(
                    "{b:#x} was seen with {a2:#x}, now with {a:#x} (different equalities)"
                ));
            }
            (Some(_), _) => return Ok(()),
            _ => {}
        }
        if let Some((&pa, &pb)) = self.fwd.range(..a).next_back()
            && pb >= b
        {
            return Err(format!(
                "order: {pa:#x} < {a:#x} but {pb:#x} >= {b:#x} (different relative order)"
            ));
        }
        if let Some((&na, &nb)) = self.fwd.range(a..).next()
            && nb <= b
        {
            return Err(format!(
                "order: {na:#x} > {a:#x} but {nb:#x} <= {b:#x} (different relative order)"
            ));
        }
        self.fwd.insert(a, b);
        self.rev.insert(b, a);
        Ok(())
    }
}

/// A plain bijection (no order), for session ids.
#[derive(Debug, Default, Clone)]
pub struct BiMap {
    fwd: HashMap<i64, i64>,
    rev: HashMap<i64, i64>,
}

impl BiMap {
    pub fn unify(&mut self, a: i64, b: i64) -> Result<(), String> {
        if a == 0 || b == 0 {
            return if a == b {
                Ok(())
            } else {
                Err(format!("{a:#x} vs {b:#x}: 0 on one side only"))
            };
        }
        match (self.fwd.get(&a), self.rev.get(&b)) {
            (Some(&b2), _) if b2 != b => Err(format!("{a:#x} was {b2:#x}, now {b:#x}")),
            (_, Some(&a2)) if a2 != a => Err(format!("{b:#x} was {a2:#x}, now {a:#x}")),
            _ => {
                self.fwd.insert(a, b);
                self.rev.insert(b, a);
                Ok(())
            }
        }
    }
}

/// All the mappings of one run.
#[derive(Debug, Default, Clone)]
pub struct Maps {
    pub zxid: OrderMap,
    pub sess: BiMap,
    /// Per server: the time each zxid's txn carried. A zxid has one time.
    times: [HashMap<i64, i64>; 2],
}

/// A labelled answer.
pub type Answer = Vec<(String, Atom)>;

impl Maps {
    fn time(&mut self, side: usize, t: i64, zxid: i64) -> Result<(), String> {
        if zxid <= 0 {
            return Ok(());
        }
        match self.times[side].insert(zxid, t) {
            Some(old) if old != t => Err(format!(
                "server {side}: zxid {zxid:#x} shown with time {old} and {t}"
            )),
            _ => Ok(()),
        }
    }

    fn atom(&mut self, a: &Atom, b: &Atom) -> Result<(), String> {
        match (a, b) {
            (Atom::Zxid(x), Atom::Zxid(y)) => self.zxid.unify(*x, *y),
            (Atom::Sess(x), Atom::Sess(y)) => self.sess.unify(*x, *y),
            (Atom::Time { t: ta, zxid: za }, Atom::Time { t: tb, zxid: zb }) => {
                if (*ta == 0) != (*tb == 0) {
                    return Err(format!("time {ta} vs {tb}: zero on one side only"));
                }
                self.time(0, *ta, *za)?;
                self.time(1, *tb, *zb)
            }
            (x, y) if x == y => Ok(()),
            (x, y) => Err(format!("{x} vs {y}")),
        }
    }

    /// Compare two answers, learning mappings. On a difference, the index of
    /// the first differing atom and why.
    pub fn compare(&mut self, a: &Answer, b: &Answer) -> Result<(), (usize, String)> {
        for (i, ((la, xa), (lb, xb))) in a.iter().zip(b).enumerate() {
            if la != lb {
                return Err((i, format!("{la} vs {lb}")));
            }
            self.atom(xa, xb).map_err(|e| (i, format!("{la}: {e}")))?;
        }
        if a.len() != b.len() {
            let i = a.len().min(b.len());
            return Err((i, format!("{} atoms vs {}", a.len(), b.len())));
        }
        Ok(())
    }
}

/// Both answers side by side, the first difference marked.
pub fn side_by_side(a: &Answer, b: &Answer, at: Option<usize>) -> String {
    let mut out = String::new();
    let n = a.len().max(b.len());
    let cell = |x: Option<&(String, Atom)>| match x {
        Some((l, v)) => format!("{l} = {v}"),
        None => "-".into(),
    };
    for i in 0..n {
        let mark = if Some(i) == at { "!!" } else { "  " };
        out.push_str(&format!(
            "  {mark} {:<48} | {}\n",
            cell(a.get(i)),
            cell(b.get(i))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_map_learns_a_bijection_and_keeps_order() {
        let mut m = OrderMap::default();
        m.unify(0x100000001, 5).unwrap();
        m.unify(0x100000003, 9).unwrap();
        m.unify(0x100000001, 5).unwrap();
        // Between the two known points on both sides: fine.
        m.unify(0x100000002, 7).unwrap();
        // Same value on one side, another on the other: equalities differ.
        assert!(m.unify(0x100000002, 8).is_err());
        assert!(m.unify(0x100000004, 7).is_err());
        // Order inverted.
        assert!(m.unify(0x100000005, 6).is_err());
        assert!(m.unify(0x100000000, 10).is_err());
        m.unify(0x100000010, 100).unwrap();
        // Special values only map to themselves.
        m.unify(0, 0).unwrap();
        m.unify(-1, -1).unwrap();
        assert!(m.unify(-1, 3).is_err());
        assert!(m.unify(0, 3).is_err());
    }

    #[test]
    fn session_map_is_a_bijection_with_zero_fixed() {
        let mut m = BiMap::default();
        m.unify(0x72000001, 0x1000).unwrap();
        m.unify(0x72000001, 0x1000).unwrap();
        assert!(m.unify(0x72000001, 0x1001).is_err());
        assert!(m.unify(0x72000002, 0x1000).is_err());
        m.unify(0, 0).unwrap();
        assert!(m.unify(0, 0x1002).is_err());
    }

    #[test]
    fn times_compare_by_zero_and_per_zxid_consistency() {
        let mut m = Maps::default();
        let a = vec![
            ("ctime".to_string(), Atom::Time { t: 1000, zxid: 2 }),
            ("czxid".to_string(), Atom::Zxid(2)),
        ];
        let b = vec![
            ("ctime".to_string(), Atom::Time { t: 5000, zxid: 7 }),
            ("czxid".to_string(), Atom::Zxid(7)),
        ];
        m.compare(&a, &b).unwrap();
        // The same zxid later shown with another time on one server.
        let b2 = vec![
            ("ctime".to_string(), Atom::Time { t: 5001, zxid: 7 }),
            ("czxid".to_string(), Atom::Zxid(7)),
        ];
        assert_eq!(m.compare(&a, &b2).unwrap_err().0, 0);
        let z = vec![("ctime".to_string(), Atom::Time { t: 0, zxid: 0 })];
        assert!(m.compare(&z, &b).is_err());
    }

    #[test]
    fn labels_values_and_lengths_must_match() {
        let mut m = Maps::default();
        let a = vec![("err".to_string(), Atom::I(0))];
        let b = vec![("err".to_string(), Atom::I(-101))];
        assert_eq!(m.compare(&a, &b).unwrap_err().0, 0);
        let c = vec![
            ("err".to_string(), Atom::I(0)),
            ("path".into(), Atom::S("/a".into())),
        ];
        assert_eq!(m.compare(&a, &c).unwrap_err().0, 1);
        assert!(side_by_side(&a, &c, Some(1)).contains("!!"));
    }
}
