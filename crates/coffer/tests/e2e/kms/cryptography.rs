//! Cryptographic operations, encryption contexts and rotation through aws-sdk-kms.

use super::*;

#[tokio::test]
async fn cryptography_contexts_and_rotation() {
    let server = Server::start();
    let kms = kms_client(&server, ALICE);
    let id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let other = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();

    let enc = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"attack at dawn".to_vec()))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert!(enc.key_id().unwrap().ends_with(&id));
    let blob = enc.ciphertext_blob().unwrap().clone();
    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");
    assert_eq!(dec.key_material_id().map(str::len), Some(64));
    // The context is part of the ciphertext: another, or none, does not open it.
    for ctx in [Some(("purpose", "Test")), Some(("other", "test")), None] {
        let mut req = kms.decrypt().ciphertext_blob(blob.clone());
        if let Some((k, v)) = ctx {
            req = req.encryption_context(k, v);
        }
        let e = req.send().await.unwrap_err();
        assert_eq!(code(e), "InvalidCiphertextException", "{ctx:?}");
    }
    let e = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .key_id(&other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "IncorrectKeyException");
    let mut tampered = blob.as_ref().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let e = kms
        .decrypt()
        .ciphertext_blob(Blob::new(tampered))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidCiphertextException");
    let e = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");

    // Data keys.
    let dk = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    let opened = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext(), dk.plaintext());
    let wp = kms
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .number_of_bytes(16)
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(wp.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref().len(), 16);
    let e = kms
        .generate_data_key()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");
    let random = kms
        .generate_random()
        .number_of_bytes(48)
        .send()
        .await
        .unwrap();
    assert_eq!(random.plaintext().unwrap().as_ref().len(), 48);

    // ReEncrypt moves a ciphertext to another key without revealing it.
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("purpose", "test")
        .destination_key_id(&other)
        .destination_encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert!(moved.key_id().unwrap().ends_with(&other));
    assert!(moved.source_key_id().unwrap().ends_with(&id));
    let dec = kms
        .decrypt()
        .ciphertext_blob(moved.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");

    // Rotation keeps old material: the old ciphertext still opens, new ones use new material.
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
    let e = kms
        .enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(30)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");
    kms.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert!(status.next_rotation_date().is_some());
    let before = kms.describe_key().key_id(&id).send().await.unwrap();
    kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let after = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_ne!(
        before.key_metadata().unwrap().current_key_material_id(),
        after.key_metadata().unwrap().current_key_material_id()
    );
    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");
    let fresh = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap();
    let fresh_dec = kms
        .decrypt()
        .ciphertext_blob(fresh.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_ne!(fresh_dec.key_material_id(), dec.key_material_id());
    let rotations = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].rotation_type(),
        Some(&aws_sdk_kms::types::RotationType::OnDemand)
    );
    kms.disable_key_rotation().key_id(&id).send().await.unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
}
