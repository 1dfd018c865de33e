//! A listing longer than the caller's buffer comes in pages: whole lines
//! that fit, and how many bytes the rest needs; paging on from the last
//! line gets every name once, in order.
mod support;

use support::{client, FakeFs};

#[test]
fn repositories_page_through_a_small_buffer() {
    let names: Vec<String> = (0..50).map(|i| format!("org/repo-{i:03}")).collect();
    let c = client(FakeFs {
        repos: names.clone(),
        ..FakeFs::default()
    });
    let mut out = [0u8; 64];
    let mut after = String::new();
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let r = c.repos_after(&after, &mut out).unwrap();
        pages += 1;
        let text = std::str::from_utf8(&out[..r.written]).unwrap();
        assert!(text.ends_with('\n') || text.is_empty(), "whole lines only");
        got.extend(text.lines().map(String::from));
        match text.lines().last() {
            Some(last) if r.needed > r.written => after = last.to_string(),
            _ => break,
        }
    }
    assert_eq!(got, names);
    assert!(pages > 10, "{pages} pages");
    // The service saw each page's `after` as its one text argument.
    let seen = &c.stub().transport.server.borrow().seen;
    assert_eq!(seen.len(), pages);
    assert_eq!(seen[0], [""]);
    assert_eq!(seen[1], [got[3].clone()]);
}
