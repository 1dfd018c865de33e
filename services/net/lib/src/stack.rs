//! [`Stack`]: one smoltcp interface with a static IPv4 address, and the
//! table of the clients' listeners and connections.
//!
//! # Invariants
//! - Every smoltcp socket is in exactly one place: a listener's `listening`
//!   (state Listen or SynReceived) or `queued` (handshake done, not yet
//!   accepted), a connection's slot, or `closing` (closed by its client,
//!   removed once TCP is done with it).
//! - A handle is `generation << 32 | index`; freeing a slot bumps its
//!   generation, so an old handle never names a new socket.

use crate::checksum::{self, Verdict};
use crate::device::{QueueDevice, TX_QUEUE};
use crate::{CLOSE_TIMEOUT_MS, MAX_BACKLOG, MAX_HANDLES, RX_BUFFER, TX_BUFFER};
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{Config as IfaceConfig, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};

/// Listening sockets kept ready per listener (each holds its buffers):
/// handshakes in progress at once, not the backlog of finished ones; at
/// most the listener's backlog less its queued connections. A SYN that
/// finds none listening is answered RST: with 4, the fifth of a burst of
/// connects (skopeo opens six for a pull) was reset before its first byte.
const LISTEN_POOL: usize = MAX_BACKLOG;
/// Interval of the window probes (keep-alives) while data waits to be sent.
const PROBE_MS: u64 = 20;
/// `iface.poll` rounds per `Stack::poll` (each emits up to one segment per
/// socket); the server drains the transmit queue and polls again anyway.
const POLL_ROUNDS: usize = 64;

/// The interface's addresses.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub mac: [u8; 6],
    pub ip: [u8; 4],
    pub prefix_len: u8,
    pub gateway: [u8; 4],
    /// Seed of smoltcp's initial sequence numbers and ports.
    pub seed: u64,
}

pub type Handle = u64;

/// The peer of an accepted connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote {
    pub ip: [u8; 4],
    pub port: u16,
}

/// Why a socket operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockError {
    /// Not a handle of this client, stale, or of the wrong kind.
    BadHandle,
    /// Port 0.
    BadPort,
    /// Another listener has the port.
    PortInUse,
    /// `MAX_HANDLES` in use.
    TooMany,
    /// The connection was reset (or timed out): no more data either way.
    Reset,
    /// Writing after the connection was closed for sending.
    Closed,
}

struct Listener {
    port: u16,
    backlog: usize,
    listening: Vec<SocketHandle>,
    queued: VecDeque<SocketHandle>,
}

enum Entry {
    Listener(Listener),
    Conn(SocketHandle),
}

struct Slot {
    generation: u32,
    owner: u64,
    entry: Option<Entry>,
}

/// Counters for `stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StackStats {
    pub accepted: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Received TCP segments whose checksums were verified (`checksum.rs`).
    pub tcp_verified: u64,
    /// Received frames dropped for a bad IPv4 or TCP checksum or length.
    pub bad_checksums: u64,
}

pub struct Stack {
    iface: Interface,
    sockets: SocketSet<'static>,
    /// The frame queues the server fills and drains.
    pub dev: QueueDevice,
    slots: Vec<Slot>,
    closing: Vec<SocketHandle>,
    pub stats: StackStats,
}

fn now(ms: u64) -> Instant {
    Instant::from_millis(ms as i64)
}

fn new_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; RX_BUFFER]),
        tcp::SocketBuffer::new(vec![0u8; TX_BUFFER]),
    );
    s.set_ack_delay(None);
    s.set_nagle_enabled(false);
    s
}

impl Stack {
    pub fn new(config: Config, now_ms: u64) -> Stack {
        let mut dev = QueueDevice::default();
        let mut ic = IfaceConfig::new(HardwareAddress::Ethernet(EthernetAddress(config.mac)));
        ic.random_seed = config.seed;
        let mut iface = Interface::new(ic, &mut dev, now(now_ms));
        let [a, b, c, d] = config.ip;
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for its first address.
            let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), config.prefix_len));
        });
        let [a, b, c, d] = config.gateway;
        // Only fails when the route table is full; it is empty here.
        let _ = iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::new(a, b, c, d));
        Stack {
            iface,
            sockets: SocketSet::new(Vec::new()),
            dev,
            slots: Vec::new(),
            closing: Vec::new(),
            stats: StackStats::default(),
        }
    }

    /// A received frame, for the next `poll`, once its IPv4 header and
    /// TCP checksums are verified (smoltcp does not verify them again; a
    /// frame that fails is dropped and counted, as smoltcp would drop it).
    pub fn push_frame(&mut self, frame: &[u8]) {
        self.stats.frames_in += 1;
        match checksum::verify_frame(frame) {
            Verdict::Bad => {
                self.stats.bad_checksums += 1;
                return;
            }
            Verdict::Tcp => self.stats.tcp_verified += 1,
            Verdict::NotIpv4 | Verdict::Ipv4 => {}
        }
        self.dev.push_rx(frame);
    }

    /// Gives back a frame taken with `pop_frame` once it was copied out:
    /// its buffer is reused.
    pub fn recycle(&mut self, frame: Vec<u8>) {
        self.dev.recycle(frame);
    }

    /// The next frame to send.
    pub fn pop_frame(&mut self) -> Option<Vec<u8>> {
        let f = self.dev.tx.pop_front();
        if f.is_some() {
            self.stats.frames_out += 1;
        }
        f
    }

    /// Frames are queued either way: poll (and drain) again before sleeping.
    pub fn has_frames(&self) -> bool {
        !self.dev.rx.is_empty() || !self.dev.tx.is_empty()
    }

    /// Whether the transmit queue is full (drain it and poll again).
    pub fn tx_full(&self) -> bool {
        self.dev.tx.len() >= TX_QUEUE
    }

    /// Processes received frames, timers and socket output; true if any
    /// socket may have changed (retry the waiting calls).
    pub fn poll(&mut self, now_ms: u64) -> bool {
        let mut changed = false;
        for _ in 0..POLL_ROUNDS {
            let r = self
                .iface
                .poll(now(now_ms), &mut self.dev, &mut self.sockets);
            if r == PollResult::None {
                break;
            }
            changed = true;
            if self.tx_full() {
                break;
            }
        }
        self.maintain();
        changed
    }

    /// Milliseconds until the stack needs a `poll` without new input
    /// (retransmission, close timeouts), or `None`.
    pub fn poll_delay_ms(&mut self, now_ms: u64) -> Option<u64> {
        self.iface
            .poll_delay(now(now_ms), &self.sockets)
            .map(|d| d.total_millis())
    }

    /// Moves finished handshakes to their listener's queue, keeps listening
    /// sockets ready, and drops closed sockets whose TCP work is done.
    fn maintain(&mut self) {
        for slot in &mut self.slots {
            let Some(Entry::Listener(l)) = &mut slot.entry else {
                continue;
            };
            let mut i = 0;
            while i < l.listening.len() {
                let h = l.listening[i];
                let s = self.sockets.get_mut::<tcp::Socket>(h);
                match s.state() {
                    State::Listen | State::SynReceived => i += 1,
                    State::Closed => {
                        // A handshake that failed: listen again.
                        let _ = s.listen(l.port);
                        i += 1;
                    }
                    _ => {
                        l.listening.swap_remove(i);
                        l.queued.push_back(h);
                    }
                }
            }
            while l.listening.len() < LISTEN_POOL.min(l.backlog.saturating_sub(l.queued.len())) {
                let mut s = new_socket();
                if s.listen(l.port).is_err() {
                    break;
                }
                l.listening.push(self.sockets.add(s));
            }
        }
        // smoltcp sends no zero-window probes, and a peer whose window
        // opened may never say so (QEMU's user network waits for a probe):
        // a keep-alive, only while data waits to be sent, asks it.
        let conns = self.slots.iter().filter_map(|s| match s.entry {
            Some(Entry::Conn(h)) => Some(h),
            _ => None,
        });
        for h in conns.chain(self.closing.iter().copied()) {
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            let want = (s.send_queue() > 0).then_some(Duration::from_millis(PROBE_MS));
            if s.keep_alive() != want {
                s.set_keep_alive(want);
            }
        }
        let sockets = &mut self.sockets;
        self.closing.retain(|&h| {
            let done = matches!(
                sockets.get::<tcp::Socket>(h).state(),
                State::Closed | State::TimeWait
            );
            if done {
                sockets.remove(h);
            }
            !done
        });
    }

    fn new_slot(&mut self, owner: u64, entry: Entry) -> Result<Handle, SockError> {
        let index = match self.slots.iter().position(|s| s.entry.is_none()) {
            Some(i) => i,
            None if self.slots.len() < MAX_HANDLES => {
                self.slots.push(Slot {
                    generation: 0,
                    owner: 0,
                    entry: None,
                });
                self.slots.len() - 1
            }
            None => return Err(SockError::TooMany),
        };
        let slot = &mut self.slots[index];
        slot.owner = owner;
        slot.entry = Some(entry);
        Ok((slot.generation as u64) << 32 | index as u64)
    }

    fn slot(&mut self, owner: u64, h: Handle) -> Result<&mut Slot, SockError> {
        let index = (h & 0xFFFF_FFFF) as usize;
        match self.slots.get_mut(index) {
            Some(s) if s.entry.is_some() && s.owner == owner && s.generation as u64 == h >> 32 => {
                Ok(s)
            }
            _ => Err(SockError::BadHandle),
        }
    }

    fn conn(&mut self, owner: u64, h: Handle) -> Result<SocketHandle, SockError> {
        match self.slot(owner, h)?.entry {
            Some(Entry::Conn(s)) => Ok(s),
            _ => Err(SockError::BadHandle),
        }
    }

    /// Listens on `port`, keeping up to `backlog` (1..=`MAX_BACKLOG`)
    /// finished handshakes for `accept`.
    pub fn listen(&mut self, owner: u64, port: u16, backlog: usize) -> Result<Handle, SockError> {
        if port == 0 {
            return Err(SockError::BadPort);
        }
        let taken = self
            .slots
            .iter()
            .any(|s| matches!(&s.entry, Some(Entry::Listener(l)) if l.port == port));
        if taken {
            return Err(SockError::PortInUse);
        }
        let listener = Listener {
            port,
            backlog: backlog.clamp(1, MAX_BACKLOG),
            listening: Vec::new(),
            queued: VecDeque::new(),
        };
        let h = self.new_slot(owner, Entry::Listener(listener))?;
        self.maintain();
        Ok(h)
    }

    /// The next connection of listener `h`, or `Ok(None)` if none is ready.
    pub fn accept(&mut self, owner: u64, h: Handle) -> Result<Option<(Handle, Remote)>, SockError> {
        let Some(Entry::Listener(l)) = &mut self.slot(owner, h)?.entry else {
            return Err(SockError::BadHandle);
        };
        let Some(&sock) = l.queued.front() else {
            return Ok(None);
        };
        let remote = match self.sockets.get::<tcp::Socket>(sock).remote_endpoint() {
            Some(IpEndpoint {
                addr: IpAddress::Ipv4(a),
                port,
            }) => Remote {
                ip: a.octets(),
                port,
            },
            _ => Remote {
                ip: [0; 4],
                port: 0,
            },
        };
        let conn = self.new_slot(owner, Entry::Conn(sock))?;
        if let Ok(Some(Entry::Listener(l))) = self.slot(owner, h).map(|s| &mut s.entry) {
            l.queued.pop_front();
        }
        self.stats.accepted += 1;
        self.maintain();
        Ok(Some((conn, remote)))
    }

    /// Hands up to `max` received bytes of connection `h` to `deliver`
    /// (which returns how many it took); `Ok(Some(0))` is the end of the
    /// stream, `Ok(None)` means no data yet.
    pub fn read(
        &mut self,
        owner: u64,
        h: Handle,
        max: usize,
        mut deliver: impl FnMut(&[u8]) -> usize,
    ) -> Result<Option<usize>, SockError> {
        let sock = self.conn(owner, h)?;
        let s = self.sockets.get_mut::<tcp::Socket>(sock);
        let mut done = 0;
        // Twice: the ring buffer hands out at most its contiguous part.
        for _ in 0..2 {
            if done >= max || !s.can_recv() {
                break;
            }
            match s.recv(|data| {
                let take = data.len().min(max - done);
                let n = deliver(&data[..take]).min(take);
                (n, n)
            }) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) => break,
            }
        }
        if done > 0 {
            return Ok(Some(done));
        }
        if s.can_recv() || s.may_recv() {
            return Ok(None);
        }
        match s.recv(|_| (0, ())) {
            Err(tcp::RecvError::Finished) => Ok(Some(0)),
            _ if s.state() == State::Closed => Err(SockError::Reset),
            // Still opening, or closing with data in flight.
            _ => Ok(None),
        }
    }

    /// Lets `fill` write up to `max` bytes into connection `h`'s send buffer
    /// (it returns how many it wrote); `Ok(None)` means the buffer is full.
    pub fn write(
        &mut self,
        owner: u64,
        h: Handle,
        max: usize,
        mut fill: impl FnMut(&mut [u8]) -> usize,
    ) -> Result<Option<usize>, SockError> {
        let sock = self.conn(owner, h)?;
        let s = self.sockets.get_mut::<tcp::Socket>(sock);
        if !s.may_send() {
            return Err(match s.state() {
                State::Closed => SockError::Reset,
                State::Listen | State::SynSent | State::SynReceived => return Ok(None),
                _ => SockError::Closed,
            });
        }
        let mut done = 0;
        for _ in 0..2 {
            if done >= max || !s.can_send() {
                break;
            }
            match s.send(|room| {
                let take = room.len().min(max - done);
                let n = fill(&mut room[..take]).min(take);
                (n, n)
            }) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) => break,
            }
        }
        Ok((done > 0 || max == 0).then_some(done))
    }

    /// Closes a listener (its unaccepted connections are reset) or a
    /// connection (a FIN after the data already written).
    pub fn close(&mut self, owner: u64, h: Handle) -> Result<(), SockError> {
        let slot = self.slot(owner, h)?;
        let entry = slot.entry.take();
        slot.generation = slot.generation.wrapping_add(1);
        match entry {
            Some(Entry::Conn(sock)) => {
                let s = self.sockets.get_mut::<tcp::Socket>(sock);
                s.close();
                s.set_timeout(Some(Duration::from_millis(CLOSE_TIMEOUT_MS)));
                self.closing.push(sock);
            }
            Some(Entry::Listener(l)) => {
                for sock in l.listening.into_iter().chain(l.queued) {
                    self.sockets.get_mut::<tcp::Socket>(sock).abort();
                    self.closing.push(sock);
                }
            }
            None => {}
        }
        Ok(())
    }

    /// Closes every handle of `owner` (a client that died).
    pub fn close_all(&mut self, owner: u64) -> usize {
        let handles = self.handles(owner);
        for &h in &handles {
            let _ = self.close(owner, h);
        }
        handles.len()
    }

    /// Whether an operation on `h` would not wait: a listener with a
    /// connection to accept; a connection with data, end of stream or an
    /// error to read, or (`want_write`) room to write.
    pub fn is_ready(&mut self, owner: u64, h: Handle, want_write: bool) -> bool {
        let sock = match self.slot(owner, h).map(|s| &s.entry) {
            Ok(Some(Entry::Listener(l))) => return !l.queued.is_empty(),
            Ok(Some(Entry::Conn(sock))) => Some(*sock),
            // The operation fails at once: ready.
            _ => None,
        };
        match sock {
            Some(sock) => {
                let s = self.sockets.get::<tcp::Socket>(sock);
                s.can_recv()
                    || !s.may_recv() && !matches!(s.state(), State::SynReceived | State::SynSent)
                    || want_write && (s.can_send() || !s.may_send())
            }
            None => true,
        }
    }

    /// The handles of `owner` ready now, as `poll` answers them: up to
    /// `out.len()` into `out`, and how many are ready in all. Listeners
    /// only when `accept` (a client that cannot take a connection now
    /// leaves them out, or a listener it will not accept from is ready at
    /// every poll and the two spin); connections whether readable, or
    /// writable when `wants_write` says the client waits for room.
    pub fn ready(
        &mut self,
        owner: u64,
        accept: bool,
        wants_write: impl Fn(Handle) -> bool,
        out: &mut [Handle],
    ) -> usize {
        let mut n = 0;
        for h in self.handles(owner) {
            let listener = matches!(
                self.slot(owner, h).map(|s| &s.entry),
                Ok(Some(Entry::Listener(_)))
            );
            if listener && !accept {
                continue;
            }
            if self.is_ready(owner, h, wants_write(h)) {
                if let Some(slot) = out.get_mut(n) {
                    *slot = h;
                }
                n += 1;
            }
        }
        n
    }

    /// Every handle of `owner`.
    pub fn handles(&self, owner: u64) -> Vec<Handle> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.entry.is_some() && s.owner == owner)
            .map(|(i, s)| (s.generation as u64) << 32 | i as u64)
            .collect()
    }

    /// (listeners, connections, sockets closing).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut l = 0;
        let mut c = 0;
        for s in &self.slots {
            match s.entry {
                Some(Entry::Listener(_)) => l += 1,
                Some(Entry::Conn(_)) => c += 1,
                None => {}
            }
        }
        (l, c, self.closing.len())
    }
}
