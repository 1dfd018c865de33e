//! Death and restart: who is told when a process ends (`DEATH_WATCH`,
//! `DEATH_NEXT`), and how a supervisor starts a dead process again from its
//! boot-image entry (`RESTART`) or ends it (`KILL`). The rules are in kernel/SYSCALLS.md
//! ("Death and restart"); the pure parts (whom to tell, the bounded queue)
//! are `kernel_logic::deaths`, host-tested.
//!
//! A restarted process takes the dead one's slot, so every capability that
//! named the slot (endpoints, notifications) reaches the new incarnation:
//! its clients reconnect by calling again. Its call sequence continues from
//! the dead one's, so a reply token or a kept reply for the old
//! incarnation's calls is `BadToken`, never delivered to the new one.

use crate::memory;
use crate::process::{Kernel, Process, State};
use abi::{death_kind, Error};
use kernel_logic::caps::Pid;
use kernel_logic::deaths::{client_notices, Notice};

type SysResult = Result<[u64; 4], Error>;

impl Kernel {
    /// `dead` just ended (`kill`): queue a notice at each server that asked
    /// and held state for it (its endpoints' badges, its open call), and at
    /// each supervisor of its slot.
    pub fn tell_deaths(&mut self, dead: Pid, open_call: Option<(Pid, u64)>) {
        let told: alloc::vec::Vec<(Pid, Notice)> =
            client_notices(dead, &self.procs[dead].caps, open_call).collect();
        for (server, notice) in told {
            if self.procs[server].death_bits != 0 {
                self.queue_notice(server, notice);
            }
        }
        for w in 0..self.procs.len() {
            if self.procs[w].supervises.contains(&dead) {
                let notice = Notice {
                    kind: death_kind::WATCHED,
                    value: dead as u64,
                };
                self.queue_notice(w, notice);
            }
        }
    }

    fn queue_notice(&mut self, to: Pid, notice: Notice) {
        if self.procs[to].state == State::Dead {
            return;
        }
        if !self.procs[to].deaths.push(notice) {
            log::warn!(
                "process {}: death notice queue full, notice lost",
                self.procs[to].name
            );
        }
        let bits = self.procs[to].death_bits;
        if bits != 0 {
            self.post_notification(to, bits);
        }
    }

    /// DEATH_WATCH: post `bits` whenever a death notice is queued for the
    /// caller (0: stop posting; supervisors' notices queue regardless).
    pub fn sys_death_watch(&mut self, bits: u64) -> SysResult {
        let cur = self.current;
        self.procs[cur].death_bits = bits;
        // A supervisor's notices queue before it watches (its supervised
        // process may die before the supervisor first runs): post them now,
        // or it would sleep on a notice that is already waiting.
        if bits != 0 && !self.procs[cur].deaths.is_empty() {
            self.post_notification(cur, bits);
        }
        Ok([0; 4])
    }

    /// DEATH_NEXT: the oldest notice: (kind, badge or slot, notices lost
    /// before it).
    pub fn sys_death_next(&mut self) -> SysResult {
        let (n, lost) = self.procs[self.current]
            .deaths
            .pop()
            .ok_or(Error::WouldBlock)?;
        Ok([n.kind, n.value, lost, 0])
    }

    /// WHOAMI: the caller's slot and incarnation (0 at boot, +1 per restart).
    pub fn sys_whoami(&mut self) -> SysResult {
        let cur = self.current;
        Ok([cur as u64, self.procs[cur].incarnation, 0, 0])
    }

    /// The process in `slot` if the caller supervises it.
    fn supervised(&self, slot: u64) -> Result<Pid, Error> {
        let cur = self.current;
        usize::try_from(slot)
            .ok()
            .filter(|&p| self.procs[cur].supervises.contains(&p))
            .ok_or(Error::NotPermitted)
    }

    /// KILL: ends a process the caller supervises (fault injection in the
    /// tests; a supervisor ending a stuck service), exactly as a fault
    /// would: its callers get `PeerDead`, its servers and supervisors are
    /// told.
    pub fn sys_kill(&mut self, slot: u64) -> SysResult {
        let pid = self.supervised(slot)?;
        if self.procs[pid].state == State::Dead {
            return Err(Error::BadArgument);
        }
        let by = self.procs[self.current].name.clone();
        self.kill(pid, format_args!("killed by {by}"));
        Ok([0; 4])
    }

    /// RESTART: starts dead process `slot` again from its boot-image entry
    /// with the same configuration line (capabilities, grants, `mem=`),
    /// for a caller that supervises it. Returns the new incarnation.
    pub fn sys_restart(&mut self, slot: u64) -> SysResult {
        let cur = self.current;
        let pid = self.supervised(slot)?;
        if self.procs[pid].state != State::Dead {
            return Err(Error::BadArgument);
        }
        // The dead driver's DMA frames: bus mastering of its PCI functions
        // has been off since it died, so its device cannot reach them, and
        // it stays off until the new incarnation turns it on, which a driver
        // does only after resetting the device (a virtio reset drains what
        // the device had in flight). Its mem= reservation counted them;
        // returning them now restores what the reservation promises.
        let quarantine = core::mem::take(&mut self.procs[pid].quarantine);
        for f in &quarantine {
            memory::free_frame(*f);
        }
        let spec = self.specs[pid].clone();
        let mut p = match Process::from_spec(&spec, self.images[pid]) {
            Ok(p) => p,
            Err(why) => {
                log::error!("restart of {}: {why}", spec.name);
                return Err(Error::NoMemory);
            }
        };
        let old = &self.procs[pid];
        // Tokens name (slot, call sequence): continuing the sequence makes
        // every token of the dead incarnation stale.
        p.call_seq = old.call_seq + 1;
        p.incarnation = old.incarnation + 1;
        p.cpu_cycles = old.cpu_cycles;
        p.mem_peak = old.mem_peak;
        let incarnation = p.incarnation;
        self.procs[pid] = p;
        for q in self.procs.iter_mut() {
            q.caps.forget_client(pid);
        }
        self.stats.processes_restarted += 1;
        log::warn!(
            "process {} (pid {}) restarted by {} (incarnation {}, {} quarantined DMA frames returned)",
            spec.name,
            pid,
            self.procs[cur].name,
            incarnation,
            quarantine.len()
        );
        Ok([incarnation, 0, 0, 0])
    }
}
