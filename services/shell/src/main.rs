//! The serial shell: prints a prompt, reads a line from the console (bytes
//! arrive through `CONSOLE_READ`; it sleeps on `CONSOLE_INPUT_BIT`
//! notifications in between), runs the command.
//!
//! Adding a command = one entry in `COMMANDS` and one function taking the
//! argument string. Needs the `console` and `poweroff` grants in boot.cfg;
//! capability slot 0, if given, is the `echo` service (`ping`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use testsvc::EchoRequest;
use userlib::abi::{CONSOLE_INPUT_BIT, POWEROFF_CLEAN};
use userlib::{ipc, print, println, sys};

mod storage;

/// Capability slot of the echo service.
const ECHO_SLOT: u64 = 0;

userlib::entry!(main);

struct Command {
    name: &'static str,
    help: &'static str,
    run: fn(&str),
}

const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        help: "list the commands",
        run: cmd_help,
    },
    Command {
        name: "echo",
        help: "echo <text>: print the text",
        run: cmd_echo,
    },
    Command {
        name: "uptime",
        help: "time since boot",
        run: cmd_uptime,
    },
    Command {
        name: "ping",
        help: "ping [n]: n calls to the echo service (slot 0), cycles per round trip",
        run: cmd_ping,
    },
    Command {
        name: "cpu",
        help: "each process's scheduled cycles since boot, idle and interrupt cycles (the kernel's accounts)",
        run: cmd_cpu,
    },
    Command {
        name: "poweroff",
        help: "stop the machine (QEMU exits with status 0)",
        run: cmd_poweroff,
    },
];

fn cmd_help(_: &str) {
    for c in COMMANDS {
        println!("  {:<10} {}", c.name, c.help);
    }
    for (name, usage) in storage::HELP {
        println!("  {:<10} {}", name, usage);
    }
}

fn cmd_ping(args: &str) {
    let rounds: u64 = match args.trim() {
        "" => 1000,
        n => match n.parse::<u64>() {
            Ok(r @ 1..=1_000_000) => r,
            // A typo used to run the default 1000 rounds without a word.
            _ => {
                println!("error: ping: {n:?} is not a number of round trips (1 to 1000000)");
                return;
            }
        },
    };
    let echo = ipc::Endpoint(ECHO_SLOT);
    let start = sys::rdtsc();
    for i in 0..rounds {
        match echo.call(&EchoRequest::Ping { value: i }, &[]) {
            Ok(r) if r.words[0] == i + 1 => {}
            Ok(r) => {
                println!("ping: round {} answered {} (want {})", i, r.words[0], i + 1);
                return;
            }
            Err(e) => {
                println!("ping: {:?} (is an echo service in capability slot 0?)", e);
                return;
            }
        }
    }
    let cycles = (sys::rdtsc() - start) / rounds;
    println!(
        "ping: {} round trips, {} cycles each on average",
        rounds, cycles
    );
}

fn cmd_echo(args: &str) {
    println!("{}", args);
}

fn cmd_uptime(_: &str) {
    let (ticks, hz) = sys::ticks();
    println!(
        "up {}.{:02} s ({} ticks)",
        ticks / hz,
        (ticks % hz) * 100 / hz,
        ticks
    );
}

/// One line per account, `cpu: <name> <cycles>`, then the TSC they add
/// up to: two readings give each process's share of the time between
/// them (a test reads them to see that a service waited, not spun).
fn cmd_cpu(_: &str) {
    let t = match sys::CpuTimes::read() {
        Ok(t) => t,
        Err(e) => return println!("error: cpu: the kernel refused its accounts: {e:?}"),
    };
    for p in &t.procs[..t.slots] {
        if !p.name().is_empty() {
            println!("cpu: {} {}", p.name(), p.cycles);
        }
    }
    println!("cpu: idle {}", t.idle);
    println!("cpu: interrupts {}", t.interrupts);
    println!("cpu: tsc {}", t.tsc);
}

fn cmd_poweroff(_: &str) {
    storage::shutdown();
    println!("powering off");
    let e = sys::poweroff(POWEROFF_CLEAN);
    println!("poweroff failed: {:?}", e);
}

/// Longest input line kept (a command, or a base64 data line: 76
/// characters as `base64` prints them, at most 4096 as the shell decodes
/// them). A longer line is discarded up to its end, with an error.
pub const LINE_MAX: usize = 4096;

/// What [`Input::read_line`] got.
#[derive(PartialEq, Eq)]
pub enum Line {
    /// A whole line of at most [`LINE_MAX`] bytes.
    Ok,
    /// A line of this many bytes, longer than [`LINE_MAX`]: discarded
    /// (`line` is empty) and the error printed.
    TooLong(usize),
}

/// Console input with the bytes read but not yet consumed (a read may return
/// several lines at once, e.g. piped input).
struct Input {
    buf: [u8; 512],
    start: usize,
    end: usize,
}

impl Input {
    /// Next input byte; sleeps on `CONSOLE_INPUT_BIT` while there is none.
    /// `None` when the console cannot be read at all.
    fn next_byte(&mut self) -> Option<u8> {
        while self.start == self.end {
            match sys::console_read(&mut self.buf) {
                Ok(0) => {
                    let _ = ipc::recv(CONSOLE_INPUT_BIT);
                }
                Ok(n) => (self.start, self.end) = (0, n),
                Err(e) => {
                    println!("shell: cannot read the console: {:?}", e);
                    return None;
                }
            }
        }
        let b = self.buf[self.start];
        self.start += 1;
        Some(b)
    }

    /// Reads one line (without its terminator) into `line`, echoing it.
    /// The echo goes out once per console read, not once per byte (base64
    /// data lines arrive by the thousand). Memory is bounded: past
    /// [`LINE_MAX`] bytes the rest of the line is read and dropped.
    fn read_line(&mut self, line: &mut String) -> Option<Line> {
        line.clear();
        let mut echoed = 0;
        let mut dropped = 0usize;
        loop {
            if self.start == self.end && echoed < line.len() {
                let _ = sys::console_write(&line.as_bytes()[echoed..]);
                echoed = line.len();
            }
            match self.next_byte()? {
                b'\r' | b'\n' => {
                    let _ = sys::console_write(&line.as_bytes()[echoed..]);
                    println!();
                    if dropped > 0 {
                        let len = line.len() + dropped;
                        line.clear();
                        storage::fail(
                            "input",
                            format_args!(
                                "line of {len} bytes is longer than {LINE_MAX}; discarded"
                            ),
                        );
                        return Some(Line::TooLong(len));
                    }
                    return Some(Line::Ok);
                }
                0x08 | 0x7f => {
                    if echoed < line.len() {
                        let _ = sys::console_write(&line.as_bytes()[echoed..]);
                        echoed = line.len();
                    }
                    if line.pop().is_some() {
                        echoed = line.len();
                        print!("\x08 \x08");
                    }
                }
                b if (b.is_ascii_graphic() || b == b' ') && line.len() < LINE_MAX => {
                    line.push(b as char)
                }
                b if b.is_ascii_graphic() || b == b' ' => dropped = dropped.saturating_add(1),
                _ => {}
            }
        }
    }
}

fn main() {
    println!("shell: ready; type `help`");
    let mut line = String::new();
    let mut input = Input {
        buf: [0; 512],
        start: 0,
        end: 0,
    };
    loop {
        print!("> ");
        match input.read_line(&mut line) {
            None => return,
            Some(Line::TooLong(_)) => continue,
            Some(Line::Ok) => {}
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let (name, args) = text.split_once(' ').unwrap_or((text, ""));
        if storage::dispatch(name, args.trim(), &mut input) {
            continue;
        }
        match COMMANDS.iter().find(|c| c.name == name) {
            Some(c) => (c.run)(args.trim()),
            None => println!("unknown command `{}`; try `help`", name),
        }
    }
}
