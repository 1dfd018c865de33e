//! The rights check in front of the fs service's dispatch: every operation
//! of the interface declares the right it needs (none is served without
//! one), a read-only client reads but its writes, snapshots and GC are
//! refused in plain words before the service's method runs, and the
//! server's methods see the client number, not the rights bits.
mod support;

use abi::fake::{FakeCaller, Loopback, Serve};
use abi::iface::{Dispatched, Refused};
use abi::Message;
use fs_api::client::Error;
use fs_api::{fs, rights, FsClient, FsError, Rights};
use support::FakeFs;

/// The fake service behind the rights check, as the real one runs.
struct Guarded(FakeFs);

impl Serve for Guarded {
    fn dispatch(
        &mut self,
        badge: u64,
        caller: FakeCaller,
        msg: &Message,
    ) -> Dispatched<FakeCaller> {
        rights::dispatch(&mut self.0, badge, caller, msg)
    }
}

fn client_with(badge: u64) -> FsClient<Loopback<Guarded>> {
    let mut transport = Loopback::new(Guarded(FakeFs::default()));
    transport.badge = badge;
    FsClient::over(transport)
}

/// The fake service's own answer to `label` (no leases, no rights check).
fn answer(label: u64) -> Message {
    let msg = Message::new(label, &[]);
    abi::fake::serve(&mut FakeFs::default(), 1, &msg).expect("the fake service answers")
}

#[test]
fn every_operation_declares_its_right() {
    let unknown = |label| Refused::UnknownOperation { label }.to_message();
    let mut operations = 0;
    // Labels are small; 4096 covers the interface with room to spare.
    for label in 1..4096 {
        let served = answer(label) != unknown(label);
        assert_eq!(
            served,
            fs_api::needed(label).is_some(),
            "operation {label}: the interface serves it {served}, the rights table disagrees"
        );
        assert_eq!(served, fs_api::op_name(label).is_some());
        operations += usize::from(served);
    }
    assert_eq!(operations, 54, "the interface's operations");
}

#[test]
fn a_read_only_client_reads_and_is_refused_the_rest() {
    let c = client_with(Rights::READ.badge(2));
    assert_eq!(c.stat("/a").unwrap().size, 2);
    let refused = |r: Result<(), Error>| match r {
        Err(e) => match e.service() {
            Some(FsError::NotPermitted { has, .. }) => {
                assert_eq!(*has, Rights::READ);
                e.to_string()
            }
            other => panic!("expected NotPermitted, got {other:?}"),
        },
        Ok(()) => panic!("a read-only client's change went through"),
    };
    let text = refused(c.append("/a", b"x").map(drop));
    assert_eq!(
        text,
        "not permitted: this client may not write (its boot configuration gives it read only; \
         append refused)"
    );
    assert!(refused(c.snap_create("s")).contains("may not create, restore or remove snapshots"));
    let mut out = [0u8; 64];
    assert!(refused(c.gc(false, &mut out).map(drop))
        .contains("may not run gc, registry gc, fsck, shutdown or set quotas"));
    assert!(refused(c.quota_set(true, "library/a", 1 << 20))
        .ends_with("set quotas (its boot configuration gives it read only; quota_set refused)"));
    assert!(refused(c.quota_remove(false, "/data")).contains("quota_remove refused"));
    // Reading the limits and their usage is a read.
    let mut out = [0u8; 64];
    let listed = c.quotas(&mut out).unwrap();
    assert_eq!(&out[..listed.written], b"repo library/alpine 10485760 0\n");
    // The refused calls never reached the service.
    let fake = &c.stub().transport.server.borrow().0;
    assert_eq!(fake.seen, vec![vec![String::from("/a")]]);
    assert!(fake.data_lens.is_empty());
}

#[test]
fn the_service_sees_the_client_number_not_the_rights() {
    let c = client_with((Rights::all()).badge(7));
    c.stat("/").unwrap();
    assert_eq!(c.stub().transport.server.borrow().0.stat_badges, vec![7]);
}

#[test]
fn a_badge_without_rights_bits_is_refused_everything() {
    let c = client_with(5);
    let e = c.stat("/").unwrap_err();
    assert!(
        e.to_string().contains("gives it no rights; stat refused"),
        "{e}"
    );
    assert!(c.stub().transport.server.borrow().0.seen.is_empty());
}

#[test]
fn the_interface_labels_are_the_table_labels() {
    // Spot checks that the names the table gives are the interface's.
    assert_eq!(fs_api::op_name(fs::label::registry_gc), Some("registry_gc"));
    assert_eq!(fs_api::needed(fs::label::sync), Some(Rights::WRITE));
    assert_eq!(fs_api::needed(fs::label::df), Some(Rights::READ));
}
