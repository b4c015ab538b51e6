//! Arbitrary bytes as a part blob, a header, segments and range requests: opening must never
//! panic, and must never return plaintext for bytes the sealer did not produce under this key
//! (which, for a fuzzer without the key, means: every open fails).
#![no_main]

use coffer_crypto::{
    DataKey, HEADER_LEN, PartOpener, SEALED_SEGMENT_LEN, open_part, plaintext_len, plan_range,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    // A fixed key: the fuzzer sees only ciphertext, like an attacker with write access to blobs.
    let key = DataKey::from_bytes(&[0x17; 32]).unwrap().part_key(1);

    // The whole input as a blob, with the size the blob implies and with a size taken from the
    // input (as if the object record disagreed with the blob).
    if let Ok(len) = plaintext_len(data.len() as u64) {
        assert!(open_part(&key, data, len).is_err(), "forged blob opened");
    }
    let claimed = u64::from(control) * 997;
    assert!(
        open_part(&key, data, claimed).is_err(),
        "forged blob opened"
    );

    // Header and segments one at a time, at arbitrary indices, flags and lengths.
    let Some(header) = data.get(..HEADER_LEN) else {
        return;
    };
    let Ok(opener) = PartOpener::new(&key, header) else {
        return;
    };
    let mut body = data[HEADER_LEN..].to_vec();
    let index = u32::from(control >> 1);
    let is_final = control & 1 == 1;
    for chunk in body.chunks_mut(SEALED_SEGMENT_LEN) {
        assert!(
            opener.open_segment(index, is_final, chunk).is_err(),
            "forged segment opened"
        );
    }

    // A range plan from the input, opened over whatever bytes are there.
    let part_len = u64::from(control) * 4099;
    let start = u64::from(data.len() as u32 % 1021);
    if let Ok(plan) = plan_range(part_len, start..part_len) {
        let range = plan.blob_range();
        let mut fetched = data.to_vec();
        fetched.resize(range.end.saturating_sub(range.start) as usize, 0);
        assert!(
            opener.open_range(&plan, &mut fetched).is_err(),
            "forged range opened"
        );
    }
});
