//! Shared by the integration tests: the captured fixture connections.
#![allow(dead_code)]

use std::path::PathBuf;

use bytes::Bytes;

/// Who sent a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Client,
    Server,
}

pub fn fixtures() -> Vec<(String, Vec<(Dir, Bytes)>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "frames"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("fixture text");
            let frames = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|line| {
                    let (dir, hex) = line
                        .split_once(' ')
                        .unwrap_or_else(|| panic!("{name}: bad line {line}"));
                    let dir = match dir {
                        "C" => Dir::Client,
                        "S" => Dir::Server,
                        other => panic!("{name}: bad direction {other}"),
                    };
                    (dir, Bytes::from(unhex(hex)))
                })
                .collect();
            (name, frames)
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Every captured frame body (length prefix removed) with its direction and
/// whether it is the first frame its sender sent on that connection.
pub fn fixture_bodies() -> Vec<(Dir, bool, Bytes)> {
    let mut out = Vec::new();
    for (_, frames) in fixtures() {
        let (mut c, mut s) = (true, true);
        for (dir, frame) in frames {
            let first = match dir {
                Dir::Client => std::mem::replace(&mut c, false),
                Dir::Server => std::mem::replace(&mut s, false),
            };
            out.push((dir, first, frame.slice(4..)));
        }
    }
    out
}
