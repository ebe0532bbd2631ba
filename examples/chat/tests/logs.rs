//! The server binary's logs: plain text when they do not go to a terminal (issue 18.4:
//! colour codes ended up in files and journals).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsx-chat"))
        .args(["--port", "0", "--memory"])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let serving = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the server logs that it serves");
        if line.contains("serving") {
            break line;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(serving.contains("INFO"), "{serving:?}");
    assert!(!serving.contains('\u{1b}'), "colour codes in {serving:?}");
}
