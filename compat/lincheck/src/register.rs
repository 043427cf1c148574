//! ZooKeeper znodes as versioned registers: getData, setData with version -1
//! (write), and setData with an expected version (compare-and-set).
//!
//! The znode exists from the start (the test creates it before recording)
//! with data `initial` and data version 0, as after ZooKeeper's create.
//! Each successful setData bumps the version by one.

use crate::Model;

/// A register's value. `None` is "no data" (an empty or never-written
/// znode), distinct from every integer a test writes.
pub type Value = Option<i64>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write(i64),
    /// setData(path, value, expected_version)
    Cas {
        expected: i32,
        value: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub key: String,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// getData's data and stat.version.
    Read { value: Value, version: i32 },
    /// setData succeeded; `version` is the returned stat.version, if the
    /// driver recorded it.
    Written { version: Option<i32> },
    /// setData failed with BadVersion.
    BadVersion,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub value: Value,
    pub version: i32,
}

/// Many independent registers, one per key (path); each starts at
/// `initial`, version 0.
#[derive(Clone, Debug, Default)]
pub struct Registers {
    pub initial: Value,
}

impl Model for Registers {
    type State = State;
    type Input = Input;
    type Output = Output;
    type Key = String;

    fn init(&self) -> State {
        State {
            value: self.initial,
            version: 0,
        }
    }

    fn key(&self, input: &Input) -> String {
        input.key.clone()
    }

    fn read_only(&self, input: &Input) -> bool {
        input.op == Op::Read
    }

    fn step(&self, s: &State, input: &Input, out: Option<&Output>) -> Option<State> {
        let written = |value, want: Option<i32>| {
            let next = State {
                value: Some(value),
                version: s.version + 1,
            };
            (want.is_none_or(|v| v == next.version)).then_some(next)
        };
        match (&input.op, out) {
            (Op::Read, None) => Some(*s),
            (Op::Read, Some(Output::Read { value, version })) => {
                (*value == s.value && *version == s.version).then_some(*s)
            }
            (Op::Write(v), None) => written(*v, None),
            (Op::Write(v), Some(Output::Written { version })) => written(*v, *version),
            (Op::Cas { expected, value }, None) => Some(if *expected == s.version {
                State {
                    value: Some(*value),
                    version: s.version + 1,
                }
            } else {
                *s
            }),
            (Op::Cas { expected, value }, Some(Output::Written { version })) => {
                if *expected == s.version {
                    written(*value, *version)
                } else {
                    None
                }
            }
            (Op::Cas { expected, .. }, Some(Output::BadVersion)) => {
                (*expected != s.version).then_some(*s)
            }
            // An output that the operation cannot produce (e.g. a read that
            // answered BadVersion) is never legal.
            _ => None,
        }
    }
}

/// Convenience constructors for tests and drivers.
pub fn read(key: &str) -> Input {
    Input {
        key: key.into(),
        op: Op::Read,
    }
}
pub fn write(key: &str, v: i64) -> Input {
    Input {
        key: key.into(),
        op: Op::Write(v),
    }
}
pub fn cas(key: &str, expected: i32, value: i64) -> Input {
    Input {
        key: key.into(),
        op: Op::Cas { expected, value },
    }
}
