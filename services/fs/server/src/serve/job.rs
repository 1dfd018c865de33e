//! `Job<R>`: a stepped run (fsck, chunk GC, registry GC) and the client
//! driving it, with the claim rules the three share: the service keeps one
//! run of each kind, its owner's; a restart replaces it (whoever owned
//! it), another client's current run stays theirs, a run that is no longer
//! current (ended by a newer one, or from before the service mounted
//! again) is gone, and the owner's death ends it (`Service::client_died`).

/// A run and the client (badge) stepping it.
pub(super) struct Job<R> {
    pub(super) owner: u64,
    pub(super) run: R,
}

impl<R> Job<R> {
    pub(super) fn new(owner: u64, run: R) -> Self {
        Job { owner, run }
    }

    /// `badge`'s run in `slot`, taken out to be stepped (put it back with
    /// `*slot = Some(job)` unless it ended). `None`: there is none for it;
    /// another client's current run stays in `slot`, a run no longer
    /// `current` is dropped.
    pub(super) fn claim(
        slot: &mut Option<Self>,
        badge: u64,
        current: impl FnOnce(&R) -> bool,
    ) -> Option<Self> {
        let job = slot.take()?;
        if !current(&job.run) {
            return None;
        }
        if job.owner != badge {
            *slot = Some(job);
            return None;
        }
        Some(job)
    }

    /// The run in `slot` if dead `client` owned it, to be ended.
    pub(super) fn take_owned(slot: &mut Option<Self>, client: u64) -> Option<R> {
        if slot.as_ref().is_some_and(|j| j.owner == client) {
            return slot.take().map(|j| j.run);
        }
        None
    }
}
