//! How much memory a parsed policy takes against its text, measured with a counting
//! allocator: `PolicyCache`'s budget (src/cache.rs) is sized from these ratios, so this test
//! fails if they drift past what its comment says.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use coffer_policy::Policy;

struct Counting;

/// Bytes allocated so far (never decremented: the measurement is of one parse).
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// A counting allocator is the one way to measure a parse's memory; the workspace denies
// `unsafe_code`, so this impl opts out alone.
// SAFETY: forwards to the system allocator unchanged and only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes the parsed policy holds on to, over the text's length.
fn ratio(text: &str) -> f64 {
    let before = ALLOCATED.load(Ordering::SeqCst);
    let policy = Policy::parse(text).expect("the document parses");
    let held = ALLOCATED.load(Ordering::SeqCst).wrapping_sub(before);
    drop(policy);
    held as f64 / text.len() as f64
}

/// One test only, so no other test allocates while one parse is measured.
#[test]
fn a_parsed_policy_stays_within_the_ratios_the_cache_budget_assumes() {
    let typical: Vec<String> = (0..16)
        .map(|i| {
            format!(
                r#"{{"Sid":"user{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/u{i}"}},
                   "Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::data/home/u{i}/*",
                   "Condition":{{"IpAddress":{{"aws:SourceIp":["10.{i}.0.0/16","192.168.{i}.0/24"]}},
                                 "DateLessThan":{{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}}}"#
            )
        })
        .collect();
    let typical = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        typical.join(",")
    );
    let r = ratio(&typical);
    assert!(r <= 7.0, "a typical policy takes {r:.1} times its text");

    let stars = vec![r#""*""#; 8_000].join(",");
    for text in [
        format!(r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":[{stars}]}}}}"#),
        format!(
            r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"*","Resource":[{stars}]}}}}"#
        ),
        format!(
            r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"*","Condition":{{"StringLike":{{"x:k":[{stars}]}}}}}}}}"#
        ),
    ] {
        let r = ratio(&text);
        assert!(
            r <= 22.5,
            "a policy of one-character strings takes {r:.1} times its text"
        );
    }
}
