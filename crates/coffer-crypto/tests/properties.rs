//! Property tests of the part format through the public API: round trips at and around segment
//! boundaries with arbitrary push chunking, sizes, and arbitrary range reads.

use coffer_crypto::{
    DataKey, HEADER_LEN, PartKey, PartOpener, PartSealer, SEGMENT_SIZE, open_part, plaintext_len,
    plan_range, sealed_len,
};
use proptest::prelude::*;
use proptest::sample::Index;

const MAX_LEN: usize = 300 * 1024;

/// Deterministic pseudo-random bytes (xorshift64*): cheap to make, unlike a proptest `Vec<u8>`.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Sizes at every segment boundary, and anything up to ~300 KiB.
fn part_len() -> impl Strategy<Value = usize> {
    let s = SEGMENT_SIZE;
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            s - 1,
            s,
            s + 1,
            2 * s - 1,
            2 * s,
            2 * s + 1,
            4 * s
        ]),
        0..=MAX_LEN,
    ]
}

fn key() -> PartKey {
    DataKey::generate().unwrap().part_key(1)
}

/// Seals `plaintext`, pushing it in pieces whose sizes cycle through `chunks` (0 = an empty
/// push), and draining the output after each push as a server would.
fn seal_in_chunks(key: &PartKey, plaintext: &[u8], chunks: &[usize]) -> Vec<u8> {
    let mut sealer = PartSealer::new(key).unwrap();
    let mut blob = Vec::new();
    let mut out = Vec::new();
    let mut rest = plaintext;
    for &chunk in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(chunk.min(rest.len()));
        sealer.push(piece, &mut out).unwrap();
        blob.append(&mut out);
        rest = tail;
    }
    assert_eq!(sealer.plaintext_len(), plaintext.len() as u64);
    assert_eq!(sealer.finish(&mut out).unwrap(), plaintext.len() as u64);
    blob.append(&mut out);
    blob
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn round_trip_with_any_chunking(
        len in part_len(),
        seed in any::<u64>(),
        chunks in prop::collection::vec(
            prop_oneof![Just(0usize), 1..=64usize, 1..=2 * SEGMENT_SIZE + 3],
            1..8,
        )
        .prop_filter("some progress", |c| c.iter().any(|&n| n > 0)),
    ) {
        let plaintext = bytes(len, seed);
        let key = key();
        let blob = seal_in_chunks(&key, &plaintext, &chunks);
        prop_assert_eq!(blob.len() as u64, sealed_len(len as u64).unwrap());
        prop_assert_eq!(plaintext_len(blob.len() as u64), Ok(len as u64));
        prop_assert_eq!(open_part(&key, &blob, len as u64).unwrap(), plaintext);
    }

    #[test]
    fn any_range_opens_to_its_slice(
        len in part_len().prop_filter("non-empty", |&n| n > 0),
        seed in any::<u64>(),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let start = a.index(len);
        let end = start + 1 + b.index(len - start);
        let plaintext = bytes(len, seed);
        let key = key();
        let blob = seal_in_chunks(&key, &plaintext, &[len]);

        let plan = plan_range(len as u64, start as u64..end as u64).unwrap();
        prop_assert!(plan.skip() < SEGMENT_SIZE);
        prop_assert_eq!(plan.keep(), (end - start) as u64);
        let range = plan.blob_range();
        prop_assert!(range.end <= blob.len() as u64);
        // Only the header and the planned segments are fetched.
        let opener = PartOpener::new(&key, &blob[..HEADER_LEN]).unwrap();
        let mut fetched = blob[range.start as usize..range.end as usize].to_vec();
        let mut streamed = Vec::new();
        let mut at = 0;
        let mut segments = fetched.clone();
        for index in plan.segments() {
            let end = at + plan.sealed_segment_len(index);
            let opened = opener
                .open_segment(index, plan.is_final(index), &mut segments[at..end])
                .unwrap();
            streamed.extend_from_slice(plan.trim(index, opened));
            at = end;
        }
        prop_assert_eq!(at, segments.len());
        prop_assert_eq!(&streamed[..], &plaintext[start..end]);
        let opened = opener.open_range(&plan, &mut fetched).unwrap();
        prop_assert_eq!(opened, &plaintext[start..end]);
    }

    #[test]
    fn sealed_len_and_plaintext_len_are_inverse(len in 0..=u64::from(u32::MAX) * 4) {
        let sealed = sealed_len(len).unwrap();
        prop_assert_eq!(plaintext_len(sealed), Ok(len));
        let segments = len.div_ceil(SEGMENT_SIZE as u64).max(1);
        prop_assert_eq!(sealed, HEADER_LEN as u64 + len + 16 * segments);
    }
}
