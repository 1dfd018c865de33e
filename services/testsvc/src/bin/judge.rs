//! Collects test verdicts and stops the machine with the overall result.
#![no_std]
#![no_main]

use testsvc::JudgeRequest;
use userlib::abi::{POWEROFF_TEST_FAIL, POWEROFF_TEST_PASS};
use userlib::ipc::{recv, Incoming};
use userlib::{println, sys};

userlib::entry!(main);

fn main() {
    println!("judge: running");
    let mut passed = 0u64;
    loop {
        let Ok(Incoming::Call { badge, token, msg }) = recv(0) else {
            continue;
        };
        match Incoming::decode::<JudgeRequest>(&msg) {
            Ok(JudgeRequest::Verdict {
                pass,
                code,
                expected,
            }) => {
                let _ = token.reply_ok(&[]);
                if !pass {
                    println!(
                        "judge: client {} failed (code {:#x}); TEST FAIL",
                        badge, code
                    );
                    sys::poweroff(POWEROFF_TEST_FAIL);
                }
                passed += 1;
                if passed >= expected {
                    println!("judge: {}/{} verdicts passed; TEST PASS", passed, expected);
                    sys::poweroff(POWEROFF_TEST_PASS);
                }
            }
            Err(e) => {
                println!("judge: bad request {:?}", e);
                let _ = token.reply_err(1);
            }
        }
    }
}
