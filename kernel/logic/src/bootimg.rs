//! The boot image (QEMU `-initrd`, a PVH module): an archive of the service
//! executables plus `boot.cfg`, which says which processes to start and what
//! each may do. Built by `scripts/mkimage.py`.
//!
//! Byte layout (little endian):
//!
//! ```text
//! offset 0   magic  "BOOTIMG1"            (8 bytes)
//! offset 8   count  u32: number of entries
//! offset 12  reserved u32 (0)
//! offset 16  entries: count x 48 bytes
//!              +0  name  [u8; 32], NUL-padded UTF-8
//!              +32 offset u64 (from the start of the image)
//!              +40 length u64
//! then the file bytes
//! ```
//!
//! `boot.cfg` is text, one process per line (`#` starts a comment):
//!
//! ```text
//! proc <name> <image> [ep=<proc>:<badge>] [notify=<proc>:<bits>] [console] [poweroff] [mem=<MiB>]
//!                     [mmio=<phys>:<len>] [ioport=<first>:<count>] [irq=<line>] [dma] [arg=<number>]
//!                     [supervise=<proc>]
//! ```
//!
//! Capabilities land in slots 0, 1, 2, ... in the order written. `console`
//! lets the process read serial input (and receive `CONSOLE_INPUT_BIT`);
//! `poweroff` lets it stop the machine; `mem` caps its `MEM_ALLOC` +
//! `DMA_ALLOC` total. `mmio`, `ioport`, `irq` and `dma` are driver rights
//! (see `grants.rs`); each may be repeated. `arg` is passed to the program's
//! entry point (`userlib::boot_arg()`), so one image can serve several roles.
//! `supervise` (repeatable) makes the process the supervisor of another: it
//! is told when that one ends and may `RESTART` it from its boot-image entry
//! (or `KILL` it).

use crate::caps::Pid;
use crate::grants::Grants;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::str;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

pub const MAGIC: &[u8; 8] = b"BOOTIMG1";
pub const HEADER_SIZE: usize = 16;
pub const ENTRY_SIZE: usize = 48;
pub const NAME_SIZE: usize = 32;

/// The header, as laid out above.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    count: U32,
    reserved: U32,
}

/// One entry of the table, as laid out above.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Entry {
    name: [u8; NAME_SIZE],
    offset: U64,
    length: U64,
}
const _: () = assert!(core::mem::size_of::<Header>() == HEADER_SIZE);
const _: () = assert!(core::mem::size_of::<Entry>() == ENTRY_SIZE);
pub const CONFIG_NAME: &str = "boot.cfg";
pub const MAX_PROCS: usize = 32;
/// `mem=` when the configuration gives none: enough for a small service
/// or test program (each is reserved at boot, so the default must be small;
/// a process that needs more says so).
pub const DEFAULT_MEM_LIMIT_MIB: u64 = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    BadMagic([u8; 8]),
    Truncated {
        need: u64,
        have: u64,
    },
    BadName {
        index: u32,
    },
    EntryOutOfImage {
        index: u32,
        offset: u64,
        length: u64,
        image_len: u64,
    },
}

/// A checked archive: every entry's name is UTF-8 and its bytes are inside.
pub struct BootImage<'a> {
    entries: Vec<(&'a str, &'a [u8])>,
}

impl<'a> BootImage<'a> {
    pub fn parse(image: &'a [u8]) -> Result<BootImage<'a>, ImageError> {
        let have = image.len() as u64;
        let truncated = |need: u64| ImageError::Truncated { need, have };
        let (header, table) =
            Header::ref_from_prefix(image).map_err(|_| truncated(HEADER_SIZE as u64))?;
        if &header.magic != MAGIC {
            return Err(ImageError::BadMagic(header.magic));
        }
        let count = header.count.get();
        let need = HEADER_SIZE as u64 + count as u64 * ENTRY_SIZE as u64;
        let (table, _) = <[Entry]>::ref_from_prefix_with_elems(table, count as usize)
            .map_err(|_| truncated(need))?;
        let mut entries = Vec::new();
        for (index, entry) in (0..count).zip(table) {
            let raw = &entry.name;
            let name_len = raw.iter().position(|&b| b == 0).unwrap_or(NAME_SIZE);
            let name =
                str::from_utf8(&raw[..name_len]).map_err(|_| ImageError::BadName { index })?;
            let (offset, length) = (entry.offset.get(), entry.length.get());
            let end = offset.checked_add(length).filter(|&e| e <= have);
            let Some(end) = end else {
                return Err(ImageError::EntryOutOfImage {
                    index,
                    offset,
                    length,
                    image_len: have,
                });
            };
            entries.push((name, &image[offset as usize..end as usize]));
        }
        Ok(BootImage { entries })
    }

    pub fn file(&self, name: &str) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }

    pub fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.entries.iter().map(|(n, _)| *n)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapSpec {
    Endpoint { server: Pid, badge: u64 },
    Notification { target: Pid, bits: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcSpec {
    pub name: String,
    pub image: String,
    pub caps: Vec<CapSpec>,
    pub console: bool,
    pub poweroff: bool,
    pub mem_limit: u64,
    pub grants: Grants,
    pub arg: u64,
    /// Processes this one is told of when they end and may `RESTART`.
    pub supervises: Vec<Pid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NotUtf8,
    /// Line `line` (1-based) is not understood: `what`, with the text seen.
    Syntax {
        line: usize,
        what: &'static str,
        seen: String,
    },
    UnknownProcess {
        line: usize,
        name: String,
    },
    DuplicateProcess {
        line: usize,
        name: String,
    },
    MissingImage {
        line: usize,
        image: String,
    },
    TooManyProcesses(usize),
    TooManyCaps {
        line: usize,
    },
    Empty,
}

fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses `boot.cfg`; `image_exists` says whether the archive has a file.
pub fn parse_config(
    text: &[u8],
    image_exists: &dyn Fn(&str) -> bool,
) -> Result<Vec<ProcSpec>, ConfigError> {
    let text = str::from_utf8(text).map_err(|_| ConfigError::NotUtf8)?;
    let lines: Vec<(usize, Vec<&str>)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            (
                i + 1,
                l.split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, words)| !words.is_empty())
        .collect();
    // First pass: names, so capabilities may refer to later processes.
    let mut names: Vec<&str> = Vec::new();
    for (line, words) in &lines {
        if words[0] != "proc" || words.len() < 3 {
            return Err(ConfigError::Syntax {
                line: *line,
                what: "expected `proc <name> <image> ...`",
                seen: words.join(" "),
            });
        }
        if names.contains(&words[1]) {
            return Err(ConfigError::DuplicateProcess {
                line: *line,
                name: words[1].to_string(),
            });
        }
        if !image_exists(words[2]) {
            return Err(ConfigError::MissingImage {
                line: *line,
                image: words[2].to_string(),
            });
        }
        names.push(words[1]);
    }
    if names.is_empty() {
        return Err(ConfigError::Empty);
    }
    if names.len() > MAX_PROCS {
        return Err(ConfigError::TooManyProcesses(names.len()));
    }
    let pid_of = |line: usize, name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .ok_or(ConfigError::UnknownProcess {
                line,
                name: name.to_string(),
            })
    };

    let mut procs = Vec::new();
    for (line, words) in &lines {
        let line = *line;
        let mut spec = ProcSpec {
            name: words[1].to_string(),
            image: words[2].to_string(),
            caps: Vec::new(),
            console: false,
            poweroff: false,
            mem_limit: DEFAULT_MEM_LIMIT_MIB << 20,
            grants: Grants::default(),
            arg: 0,
            supervises: Vec::new(),
        };
        for attr in &words[3..] {
            let syntax = |what| ConfigError::Syntax {
                line,
                what,
                seen: attr.to_string(),
            };
            match *attr {
                "console" => spec.console = true,
                "poweroff" => spec.poweroff = true,
                "dma" => spec.grants.dma = true,
                _ => {
                    let (key, value) = attr
                        .split_once('=')
                        .ok_or_else(|| syntax("unknown attribute"))?;
                    match key {
                        "ep" | "notify" => {
                            let (who, num) = value
                                .split_once(':')
                                .ok_or_else(|| syntax("expected <proc>:<number>"))?;
                            let pid = pid_of(line, who)?;
                            let n = parse_number(num).ok_or_else(|| syntax("bad number"))?;
                            spec.caps.push(if key == "ep" {
                                CapSpec::Endpoint {
                                    server: pid,
                                    badge: n,
                                }
                            } else {
                                CapSpec::Notification {
                                    target: pid,
                                    bits: n,
                                }
                            });
                        }
                        "mmio" | "ioport" => {
                            let (a, b) = value
                                .split_once(':')
                                .ok_or_else(|| syntax("expected <start>:<length>"))?;
                            let a = parse_number(a).ok_or_else(|| syntax("bad number"))?;
                            let b = parse_number(b).ok_or_else(|| syntax("bad number"))?;
                            let granted = if key == "mmio" {
                                spec.grants.add_mmio(a, b)
                            } else {
                                let small = |v: u64| {
                                    u32::try_from(v).map_err(|_| syntax("port out of range"))
                                };
                                spec.grants.add_ports(small(a)?, small(b)?)
                            };
                            granted.map_err(|_| syntax("window not grantable"))?;
                        }
                        "irq" => {
                            let irq = parse_number(value).ok_or_else(|| syntax("bad number"))?;
                            spec.grants
                                .add_irq(irq)
                                .map_err(|_| syntax("interrupt line not grantable"))?;
                        }
                        "supervise" => {
                            let pid = pid_of(line, value)?;
                            if names[pid] == words[1] {
                                return Err(syntax("a process cannot supervise itself"));
                            }
                            if !spec.supervises.contains(&pid) {
                                spec.supervises.push(pid);
                            }
                        }
                        "arg" => {
                            spec.arg = parse_number(value).ok_or_else(|| syntax("bad number"))?
                        }
                        "mem" => {
                            let mib = parse_number(value)
                                .filter(|&m| m <= 1 << 20)
                                .ok_or_else(|| syntax("bad mem=<MiB>"))?;
                            spec.mem_limit = mib << 20;
                        }
                        _ => return Err(syntax("unknown attribute")),
                    }
                }
            }
        }
        if spec.caps.len() > abi::CAP_SLOTS {
            return Err(ConfigError::TooManyCaps { line });
        }
        procs.push(spec);
    }
    Ok(procs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(files.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        let mut off = (HEADER_SIZE + files.len() * ENTRY_SIZE) as u64;
        for (name, data) in files {
            let mut n = [0u8; NAME_SIZE];
            n[..name.len()].copy_from_slice(name.as_bytes());
            out.extend_from_slice(&n);
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            off += data.len() as u64;
        }
        for (_, data) in files {
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn archive_round_trip() {
        let img = image(&[("boot.cfg", b"proc a a\n"), ("a", b"\x7fELF")]);
        let bi = BootImage::parse(&img).unwrap();
        assert_eq!(bi.file("a"), Some(&b"\x7fELF"[..]));
        assert_eq!(bi.file(CONFIG_NAME), Some(&b"proc a a\n"[..]));
        assert_eq!(bi.file("b"), None);
        assert_eq!(bi.names().count(), 2);
    }

    #[test]
    fn corrupt_archives_are_errors() {
        let img = image(&[("a", b"12345678")]);
        assert!(matches!(
            BootImage::parse(&img[..10]),
            Err(ImageError::Truncated { need: 16, have: 10 })
        ));
        assert!(matches!(
            BootImage::parse(&img[..40]),
            Err(ImageError::Truncated { need: 64, have: 40 })
        ));
        assert!(matches!(
            BootImage::parse(&img[..img.len() - 1]),
            Err(ImageError::EntryOutOfImage { index: 0, .. })
        ));
        let mut bad = img.clone();
        bad[0] = b'X';
        assert!(matches!(
            BootImage::parse(&bad),
            Err(ImageError::BadMagic(_))
        ));
        let mut wrap = img.clone();
        wrap[HEADER_SIZE + core::mem::offset_of!(Entry, length)..HEADER_SIZE + ENTRY_SIZE]
            .copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            BootImage::parse(&wrap),
            Err(ImageError::EntryOutOfImage { .. })
        ));
        let mut name = img;
        name[HEADER_SIZE] = 0xFF;
        assert_eq!(
            BootImage::parse(&name).err(),
            Some(ImageError::BadName { index: 0 })
        );
    }

    #[test]
    fn config_grants_caps_in_order_and_resolves_forward_names() {
        let cfg = b"# test\nproc client cl ep=server:7 notify=server:0x4 poweroff mem=8 arg=0x2a\nproc server sv console # trailing\n";
        let procs = parse_config(cfg, &|_| true).unwrap();
        assert_eq!(procs.len(), 2);
        assert_eq!(
            procs[0].caps,
            vec![
                CapSpec::Endpoint {
                    server: 1,
                    badge: 7
                },
                CapSpec::Notification { target: 1, bits: 4 }
            ]
        );
        assert!(procs[0].poweroff && !procs[0].console);
        assert_eq!(procs[0].mem_limit, 8 << 20);
        assert_eq!((procs[0].arg, procs[1].arg), (42, 0));
        assert!(procs[1].console);
        assert_eq!(procs[1].mem_limit, DEFAULT_MEM_LIMIT_MIB << 20);
    }

    #[test]
    fn config_supervise_names_processes_and_not_itself() {
        let cfg = b"proc drv d\nproc sup s supervise=drv supervise=blk supervise=drv\nproc blk b\n";
        let procs = parse_config(cfg, &|_| true).unwrap();
        assert_eq!(procs[1].supervises, vec![0, 2]);
        assert!(procs[0].supervises.is_empty());
        let own = b"proc sup s supervise=sup\n";
        assert!(matches!(
            parse_config(own, &|_| true),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
        let unknown = b"proc sup s supervise=nobody\n";
        assert!(matches!(
            parse_config(unknown, &|_| true),
            Err(ConfigError::UnknownProcess { line: 1, .. })
        ));
    }

    #[test]
    fn config_driver_grants() {
        let cfg = b"proc drv d mmio=0xfed00000:0x1000 ioport=0x70:2 irq=8 dma\n";
        let procs = parse_config(cfg, &|_| true).unwrap();
        let g = &procs[0].grants;
        assert!(
            g.dma && g.irq_allowed(8) && g.port_allows(0x71, 1) && g.mmio_allows(0xFED0_0000, 8)
        );
        for bad in [
            &b"proc d d irq=4\n"[..],
            b"proc d d irq=16\n",
            b"proc d d ioport=0x3f8:8\n",
            b"proc d d ioport=0x1ffff:1\n",
            b"proc d d mmio=0x1001:0x1000\n",
            b"proc d d mmio=5\n",
        ] {
            assert!(
                matches!(
                    parse_config(bad, &|_| true),
                    Err(ConfigError::Syntax { line: 1, .. })
                ),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
    }

    #[test]
    fn config_errors_name_the_line_and_text() {
        let ok = |_: &str| true;
        assert_eq!(
            parse_config(b"proc a a ep=b:1\n", &ok),
            Err(ConfigError::UnknownProcess {
                line: 1,
                name: "b".into()
            })
        );
        assert_eq!(
            parse_config(b"proc a a\nproc a a\n", &ok),
            Err(ConfigError::DuplicateProcess {
                line: 2,
                name: "a".into()
            })
        );
        assert!(matches!(
            parse_config(b"prc a a\n", &ok),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            parse_config(b"proc a a ep=a\n", &ok),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            parse_config(b"proc a a ep=a:zz\n", &ok),
            Err(ConfigError::Syntax { .. })
        ));
        assert!(matches!(
            parse_config(b"proc a a bogus\n", &ok),
            Err(ConfigError::Syntax { .. })
        ));
        assert_eq!(parse_config(b"# nothing\n", &ok), Err(ConfigError::Empty));
        assert_eq!(
            parse_config(b"proc a nosuch\n", &|n| n != "nosuch"),
            Err(ConfigError::MissingImage {
                line: 1,
                image: "nosuch".into()
            })
        );
        assert_eq!(parse_config(&[0xff], &ok), Err(ConfigError::NotUtf8));
    }
}
