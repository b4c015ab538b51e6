//! Seal a plaintext from the input, apply edits from the input to the blob, then open: the blob
//! must open to the plaintext exactly when no edit changed a byte, and fail otherwise. This is
//! "success implies the bytes came from the sealer" for a fuzzer that can start from real blobs.
#![no_main]

use coffer_crypto::{DataKey, open_part, plaintext_len, seal_part};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&plaintext_len_byte, data)) = data.split_first() else {
        return;
    };
    let split = (usize::from(plaintext_len_byte) * 257).min(data.len());
    let (plaintext, edits) = data.split_at(split);
    let key = DataKey::from_bytes(&[0x29; 32]).unwrap().part_key(7);
    let original = seal_part(&key, plaintext).unwrap();

    // Each edit is 3 bytes: position (u16 BE, modulo the blob length) and a value to XOR in.
    // A last odd edit of one or two bytes truncates the blob by that much instead.
    let mut blob = original.clone();
    let mut chunks = edits.chunks_exact(3);
    for edit in &mut chunks {
        let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % blob.len();
        blob[at] ^= edit[2];
    }
    let cut = chunks.remainder().len();
    blob.truncate(blob.len() - cut);

    let result = open_part(&key, &blob, plaintext.len() as u64);
    if blob == original {
        assert_eq!(
            result.as_deref(),
            Ok(plaintext),
            "an intact blob failed to open"
        );
    } else {
        assert!(result.is_err(), "an altered blob opened");
    }
    // The size a truncated blob implies must not let it open either.
    if let Ok(len) = plaintext_len(blob.len() as u64)
        && blob != original
    {
        assert!(
            open_part(&key, &blob, len).is_err(),
            "an altered blob opened"
        );
    }
});
