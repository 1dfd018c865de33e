//! Synchronous IPC (call / recv / reply / reply_recv), leases and
//! notifications. The rules (see `kernel/SYSCALLS.md`):
//!
//! - A call names an endpoint capability; the server receives the message,
//!   the capability's badge and a reply token. The caller stays blocked until
//!   the server replies with that token or dies (then it gets `PeerDead`).
//! - A server may hold any number of tokens and reply in any order (deferred
//!   replies). A token is good for exactly one reply; the caller's leases are
//!   usable through it until then.
//! - Messages are copied once into the kernel at call time, then once into
//!   the receiver; no kernel queue holds more than one message per caller.

use crate::memory::DirectMap;
use crate::process::{Kernel, State};
use crate::usermem::{copy_between, UserSlice, UserSliceMut};
use abi::{lease, recv_flags, recv_kind, reply_flags, Error, Lease, Message, MAX_LEASES, NO_CAP};
use kernel_logic::caps::Pid;

/// Longest run `LEASE_PHYS` reports in one call (bounds the page walk).
const LEASE_PHYS_MAX_RUN: u64 = 4 << 20;

/// `pid` in the low 8 bits (MAX_PROCS <= 256), the caller's call sequence
/// number above: a token for an earlier call of the same process is stale.
fn token(pid: Pid, seq: u64) -> u64 {
    (seq << 8) | pid as u64
}

type SysResult = Result<[u64; 4], Error>;

/// The caller's memory a lease names, for the kernel (or a device) to read.
fn lease_bytes(l: &Lease) -> Result<UserSlice<u8>, Error> {
    Ok(UserSlice::new(l.addr, l.len)?)
}

/// The caller's memory a lease names, for the kernel (or a device) to write.
fn lease_bytes_mut(l: &Lease) -> Result<UserSliceMut<u8>, Error> {
    Ok(UserSliceMut::new(l.addr, l.len)?)
}

impl Kernel {
    fn read_message(&self, pid: Pid, addr: u64) -> Result<Message, Error> {
        Ok(UserSlice::<Message>::one(addr)?.read_value(&mut DirectMap, self.procs[pid].root)?)
    }

    /// A reply or receive buffer of the current process, checked writable.
    fn message_buf(&self, addr: u64) -> Result<UserSliceMut<Message>, Error> {
        let buf = UserSliceMut::<Message>::one(addr)?;
        buf.check(&mut DirectMap, self.procs[self.current].root)?;
        Ok(buf)
    }

    pub fn sys_call(&mut self, cap: u64, msg_ptr: u64, reply_ptr: u64) -> SysResult {
        let cur = self.current;
        let (server, badge) = self.procs[cur].caps.endpoint(cap)?;
        let msg = self.read_message(cur, msg_ptr)?;
        let root = self.procs[cur].root;
        let reply_buf = self.message_buf(reply_ptr)?;
        for l in &msg.leases {
            if l.len == 0 {
                continue;
            }
            if l.flags == 0 || l.flags & !(lease::READ | lease::WRITE) != 0 {
                return Err(Error::BadLease);
            }
            if l.flags & lease::WRITE != 0 {
                lease_bytes_mut(l)?.check(&mut DirectMap, root)?;
            } else {
                lease_bytes(l)?.check(&mut DirectMap, root)?;
            }
        }
        if msg.cap != NO_CAP {
            self.procs[cur].caps.get(msg.cap)?;
        }
        if server == cur {
            return Err(Error::BadArgument);
        }
        if self.procs[server].state == State::Dead {
            return Err(Error::PeerDead);
        }
        let p = &mut self.procs[cur];
        p.call_seq += 1;
        p.outgoing = msg;
        p.outgoing_badge = badge;
        p.state = State::Sending { server, reply_buf };
        if let State::Receiving {
            buf, calls: true, ..
        } = self.procs[server].state
        {
            if let Err(e) = self.deliver(server, cur, buf) {
                self.procs[cur].state = State::Runnable;
                return Err(e);
            }
            self.next_hint = Some(server);
            self.stats.calls_direct += 1;
        } else {
            self.procs[server].senders.push_back(cur);
            self.stats.calls_queued += 1;
        }
        // The caller's result is set when it is woken.
        Ok([0; 4])
    }

    /// Moves caller's outgoing message into server's receive buffer `buf`.
    /// On success the server is runnable and the caller awaits the reply; on
    /// an error (the capability cannot be transferred) nothing changed.
    fn deliver(
        &mut self,
        server: Pid,
        caller: Pid,
        buf: UserSliceMut<Message>,
    ) -> Result<(), Error> {
        let State::Sending { reply_buf, .. } = self.procs[caller].state else {
            return Err(Error::BadArgument);
        };
        let mut msg = self.procs[caller].outgoing;
        for l in msg.leases.iter_mut() {
            l.addr = 0;
        }
        if msg.cap != NO_CAP {
            // The server holds it for this call only (dropped at the reply
            // unless kept: kernel_logic::caps).
            let seq = self.procs[caller].call_seq;
            let granted = self.procs[caller]
                .caps
                .get(msg.cap)
                .map_err(Error::from)
                .and_then(|cap| {
                    self.procs[server]
                        .caps
                        .insert_received(cap, caller, seq)
                        .map_err(Error::from)
                });
            msg.cap = granted?;
        }
        let srv_root = self.procs[server].root;
        if let Err(e) = buf.write_value(&mut DirectMap, srv_root, &msg) {
            // Checked when the server called RECV and mappings never shrink.
            log::error!("deliver to {}: {e:?}", self.procs[server].name);
        }
        let seq = self.procs[caller].call_seq;
        let badge = self.procs[caller].outgoing_badge;
        self.procs[caller].state = State::AwaitingReply { server, reply_buf };
        let s = &mut self.procs[server];
        s.set_result(Ok([recv_kind::MESSAGE, badge, token(caller, seq), 0]));
        s.state = State::Runnable;
        Ok(())
    }

    pub fn sys_recv(&mut self, buf: u64, mask: u64, flags: u64) -> SysResult {
        let cur = self.current;
        if flags & !(recv_flags::NONBLOCKING | recv_flags::NOTIFICATIONS_ONLY) != 0 {
            return Err(Error::BadArgument);
        }
        let calls = flags & recv_flags::NOTIFICATIONS_ONLY == 0;
        let buf = self.message_buf(buf)?;
        let ready = self.procs[cur].notify_pending & mask;
        if ready != 0 {
            self.procs[cur].notify_pending &= !ready;
            return Ok([recv_kind::NOTIFICATION, ready, 0, 0]);
        }
        while let Some(caller) = if calls {
            self.procs[cur].senders.pop_front()
        } else {
            None
        } {
            self.procs[cur].state = State::Receiving { buf, mask, calls };
            match self.deliver(cur, caller, buf) {
                Ok(()) => {
                    let f = &self.procs[cur].frame;
                    return Ok([f.rdi, f.rsi, f.rdx, f.r10]);
                }
                Err(e) => {
                    self.procs[caller].set_result(Err(e));
                    self.procs[caller].state = State::Runnable;
                }
            }
        }
        if flags & recv_flags::NONBLOCKING != 0 {
            self.procs[cur].state = State::Runnable;
            return Err(Error::WouldBlock);
        }
        self.procs[cur].state = State::Receiving { buf, mask, calls };
        Ok([0; 4])
    }

    /// The caller that `tok` names, if it awaits a reply from the current
    /// process for that very call.
    fn caller_of(&self, tok: u64) -> Result<(Pid, UserSliceMut<Message>), Error> {
        let pid = (tok & 0xFF) as usize;
        let seq = tok >> 8;
        let p = self.procs.get(pid).ok_or(Error::BadToken)?;
        match p.state {
            State::AwaitingReply { server, reply_buf }
                if server == self.current && p.call_seq == seq =>
            {
                Ok((pid, reply_buf))
            }
            State::Dead => Err(Error::PeerDead),
            _ => Err(Error::BadToken),
        }
    }

    /// `REPLY`; with `reply_flags::CONTINUES` the caller says it keeps
    /// computing (it will not receive at once), so a halted CPU is woken
    /// for the process the reply made runnable (kernel/SYSCALLS.md).
    pub fn sys_reply(&mut self, tok: u64, msg_ptr: u64, flags: u64) -> SysResult {
        if flags & !reply_flags::CONTINUES != 0 {
            return Err(Error::BadArgument);
        }
        let cur = self.current;
        let mut msg = self.read_message(cur, msg_ptr)?;
        let (caller, reply_buf) = self.caller_of(tok)?;
        msg.leases = Default::default();
        if msg.cap != NO_CAP {
            let cap = self.procs[cur].caps.get(msg.cap)?;
            msg.cap = self.procs[caller].caps.insert(cap)?;
        }
        if let Err(e) = reply_buf.write_value(&mut DirectMap, self.procs[caller].root, &msg) {
            log::error!("reply to {}: {e:?}", self.procs[caller].name);
        }
        // The call is over: a capability it brought goes unless kept. Only
        // a call that carried one can have left one (`deliver`), so the
        // others skip the scan of the table's 64 slots.
        if self.procs[caller].outgoing.cap != NO_CAP {
            self.procs[cur].caps.release_call(caller, tok >> 8);
        }
        self.stats.replies += 1;
        let c = &mut self.procs[caller];
        c.set_result(Ok([0; 4]));
        c.state = State::Runnable;
        // Plain replies wake no CPU: the replier mostly receives next and
        // the caller runs here (a move costs more under TCG; smp.rs).
        if flags & reply_flags::CONTINUES != 0 && self.wake_one_idle_cpu() {
            self.stats.reply_wakes += 1;
        }
        Ok([0; 4])
    }

    /// Reply, then receive. A reply that fails because the caller is gone
    /// (`PeerDead`, `BadToken`) is dropped and the receive still happens.
    pub fn sys_reply_recv(&mut self, tok: u64, reply_ptr: u64, buf: u64, mask: u64) -> SysResult {
        let caller = (tok & 0xFF) as usize;
        match self.sys_reply(tok, reply_ptr, 0) {
            Ok(_) => self.next_hint = Some(caller),
            Err(Error::PeerDead | Error::BadToken) => {}
            Err(e) => return Err(e),
        }
        self.sys_recv(buf, mask, 0)
    }

    /// LEASE_READ (`write_to_lease` false) or LEASE_WRITE: copies between the
    /// current process's buffer and lease `index` of the caller `tok` names.
    pub fn sys_lease_copy(
        &mut self,
        tok: u64,
        index: u64,
        offset: u64,
        buf: u64,
        len: u64,
        write_to_lease: bool,
    ) -> SysResult {
        let cur = self.current;
        let (caller, _) = self.caller_of(tok)?;
        if index >= MAX_LEASES as u64 {
            return Err(Error::BadLease);
        }
        let l = self.procs[caller].outgoing.leases[index as usize];
        let need = if write_to_lease {
            lease::WRITE
        } else {
            lease::READ
        };
        if l.len == 0 || l.flags & need == 0 || offset > l.len {
            return Err(Error::BadLease);
        }
        let n = len.min(l.len - offset);
        let (cur_root, caller_root) = (self.procs[cur].root, self.procs[caller].root);
        if write_to_lease {
            let to = lease_bytes_mut(&l)?.sub(offset, n)?;
            copy_between(
                &mut DirectMap,
                cur_root,
                &UserSlice::new(buf, n)?,
                caller_root,
                &to,
            )?;
        } else {
            let from = lease_bytes(&l)?.sub(offset, n)?;
            copy_between(
                &mut DirectMap,
                caller_root,
                &from,
                cur_root,
                &UserSliceMut::new(buf, n)?,
            )?;
        }
        Ok([n, 0, 0, 0])
    }

    /// LEASE_PHYS: the physical address of byte `offset` of lease `index` of
    /// the caller `tok` names, and how many bytes from there are physically
    /// contiguous (capped at the lease end and `LEASE_PHYS_MAX_RUN`), so a
    /// driver can let its device move
    /// the data straight to or from the caller's memory (zero copy). `access`
    /// is what the device will do to the memory: `lease::READ` (it reads,
    /// for a disk write) or `lease::WRITE`; the lease must allow it. Only for
    /// processes with the `dma` grant. The caller's pages stay put while it
    /// waits for the reply, which the driver sends after the device is done.
    pub fn sys_lease_phys(&mut self, tok: u64, index: u64, offset: u64, access: u64) -> SysResult {
        if !self.procs[self.current].grants.dma {
            return Err(Error::NotPermitted);
        }
        let (caller, _) = self.caller_of(tok)?;
        if index >= MAX_LEASES as u64 || !matches!(access, lease::READ | lease::WRITE) {
            return Err(Error::BadLease);
        }
        let l = self.procs[caller].outgoing.leases[index as usize];
        if l.len == 0 || l.flags & access == 0 || offset >= l.len {
            return Err(Error::BadLease);
        }
        let root = self.procs[caller].root;
        let limit = LEASE_PHYS_MAX_RUN;
        let (paddr, run) = if access == lease::WRITE {
            lease_bytes_mut(&l)?.sub(offset, l.len - offset)?.phys_run(
                &mut DirectMap,
                root,
                limit,
            )?
        } else {
            lease_bytes(&l)?
                .sub(offset, l.len - offset)?
                .phys_run(&mut DirectMap, root, limit)?
        };
        Ok([paddr, run, 0, 0])
    }

    pub fn sys_notify(&mut self, cap: u64) -> SysResult {
        let (target, bits) = self.procs[self.current].caps.notification(cap)?;
        if self.procs[target].state == State::Dead {
            return Err(Error::PeerDead);
        }
        self.post_notification(target, bits);
        Ok([0; 4])
    }
}
