//! The binary's contract with test drivers: exit 0 / 1 / 2 / 3.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lincheck"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), text)
}

#[test]
fn exit_codes() {
    let good = "0 a invoke x write 1\n10 a ok 1\n20 b invoke x read\n30 b ok 1 1\n";
    assert_eq!(run(&[], good).0, 0);

    let bad = "0 a invoke x write 1\n10 a ok 1\n20 b invoke x read\n30 b ok nil 0\n";
    let (code, text) = run(&[], bad);
    assert_eq!(code, 1);
    // The report points at the read's line.
    assert!(text.contains("line 3: b Read"), "{text}");

    let mut explosive = String::new();
    for i in 0..28 {
        explosive += &format!("0 p{i} invoke x write {i}\n");
    }
    explosive += "1 r invoke x read\n2 r ok 999 1\n";
    assert_eq!(run(&["--max-states", "1000"], &explosive).0, 2);

    assert_eq!(run(&[], "0 a bogus\n").0, 3);
    assert_eq!(
        run(&["--initial", "5"], "0 a invoke x read\n1 a ok 5 0\n").0,
        0
    );
}

#[test]
fn reads_a_file() {
    let dir = std::env::temp_dir().join(format!("lincheck-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("h.txt");
    std::fs::write(
        &f,
        "# a comment\n\n0 a invoke x cas 0 1\n5 a ok badversion\n",
    )
    .unwrap();
    let (code, _) = run(&[f.to_str().unwrap()], "");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1);
}
