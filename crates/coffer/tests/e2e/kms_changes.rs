//! No KMS change without its record, and no record without its change: a management call's
//! writes and its audit record commit together (the record through the outbox of the
//! metadata store), so a crash at any moment leaves both or neither.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_kms::types::{KeyState, Tag};
use serde_json::Value;

use crate::common::*;
use crate::failpoints::*;
use crate::invariants::{audit_records, check_trail_verifies};

fn key_arn_of(r: &Value) -> Option<&str> {
    r["resources"][0]["ARN"].as_str()
}

fn succeeded<'a>(records: &'a [Value], event: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["eventName"] == event && r["errorCode"].is_null())
        .collect()
}

/// Parks a DisableKey at `point`, kills the server there, restarts it, and returns the
/// key's state and the DisableKey records of that key.
async fn disable_parked_at(point: &str) -> (KeyState, usize) {
    let mut server = Server::start();
    let kms = no_retry_kms(&server);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    set_failpoints(&server, &format!("{point}=return(park)"));
    let call = {
        let kms = kms.clone();
        let arn = arn.clone();
        tokio::spawn(async move { kms.disable_key().key_id(arn).send().await.is_ok() })
    };
    wait_parked(&server, point).await;
    server.kill9();
    assert!(!call.await.unwrap(), "{point}: answered while parked");
    clear_failpoints_offline(&server);
    server.restart();
    let kms = no_retry_kms(&server);
    let state = kms
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .unwrap()
        .clone();
    let records = audit_records(&server);
    let n = succeeded(&records, "DisableKey")
        .iter()
        .filter(|r| key_arn_of(r) == Some(arn.as_str()))
        .count();
    (state, n)
}

#[tokio::test]
async fn a_change_killed_after_its_commit_gets_its_record_at_restart() {
    let (state, records) = disable_parked_at("kms.change.committed").await;
    assert_eq!(state, KeyState::Disabled, "the committed change was lost");
    assert_eq!(records, 1, "the committed change has {records} records");
}

#[tokio::test]
async fn a_change_killed_before_its_commit_leaves_neither_change_nor_record() {
    let (state, records) = disable_parked_at("kms.change.staged").await;
    assert_eq!(
        state,
        KeyState::Enabled,
        "a change that never committed took effect"
    );
    assert_eq!(records, 0, "a change that never committed is on record");
}

/// Management calls from four clients at once, killed with SIGKILL mid-burst: after the
/// restart, every key, alias, state and tag has the record of the call that made it, and
/// every successful record's change is there.
#[tokio::test]
async fn a_kill_during_a_burst_of_kms_changes_leaves_every_change_on_record() {
    let mut server = Server::start();
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut workers = Vec::new();
    for w in 0..4 {
        let kms = no_retry_kms(&server);
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < stop_at {
                i += 1;
                let Ok(key) = kms.create_key().send().await else {
                    return;
                };
                let id = key.key_metadata().unwrap().key_id().to_owned();
                let steps = async {
                    kms.create_alias()
                        .alias_name(format!("alias/burst-{w}-{i}"))
                        .target_key_id(&id)
                        .send()
                        .await
                        .ok()?;
                    kms.tag_resource()
                        .key_id(&id)
                        .tags(
                            Tag::builder()
                                .tag_key("n")
                                .tag_value(format!("{i}"))
                                .build()
                                .ok()?,
                        )
                        .send()
                        .await
                        .ok()?;
                    kms.disable_key().key_id(&id).send().await.ok()?;
                    if i % 2 == 0 {
                        kms.enable_key().key_id(&id).send().await.ok()?;
                    }
                    Some(())
                };
                if steps.await.is_none() {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    for w in workers {
        let _ = w.await;
    }
    server.restart();

    let kms = no_retry_kms(&server);
    let records = audit_records(&server);
    // What the store holds.
    let mut keys: BTreeMap<String, (KeyState, Option<String>)> = BTreeMap::new();
    for k in kms.list_keys().limit(1000).send().await.unwrap().keys() {
        let arn = k.key_arn().unwrap().to_owned();
        let meta = kms.describe_key().key_id(&arn).send().await.unwrap();
        let tags = kms.list_resource_tags().key_id(&arn).send().await.unwrap();
        let tag = tags.tags().first().map(|t| t.tag_value().to_owned());
        keys.insert(
            arn,
            (
                meta.key_metadata().unwrap().key_state().unwrap().clone(),
                tag,
            ),
        );
    }
    let aliases: BTreeSet<String> = kms
        .list_aliases()
        .limit(1000)
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name().filter(|n| n.starts_with("alias/burst-")))
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "the burst made no key before the kill");

    // What the trail holds.
    let created: BTreeSet<String> = succeeded(&records, "CreateKey")
        .iter()
        .filter_map(|r| key_arn_of(r).map(str::to_owned))
        .collect();
    let keys_listed: BTreeSet<String> = keys.keys().cloned().collect();
    assert_eq!(created, keys_listed, "keys and CreateKey records differ");
    let aliased: BTreeSet<String> = succeeded(&records, "CreateAlias")
        .iter()
        .filter_map(|r| {
            r["requestParameters"]["aliasName"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(aliased, aliases, "aliases and CreateAlias records differ");
    for (arn, (state, tag)) in &keys {
        // The last state change on record is the state the key is in.
        let last = records
            .iter()
            .filter(|r| r["errorCode"].is_null() && key_arn_of(r) == Some(arn.as_str()))
            .filter(|r| r["eventName"] == "DisableKey" || r["eventName"] == "EnableKey")
            .max_by_key(|r| r["cofferChain"]["seq"].as_u64());
        let expected = match last.map(|r| r["eventName"].as_str().unwrap()) {
            Some("DisableKey") => KeyState::Disabled,
            _ => KeyState::Enabled,
        };
        assert_eq!(*state, expected, "{arn}: state and its records differ");
        let tagged = succeeded(&records, "TagResource")
            .iter()
            .any(|r| key_arn_of(r) == Some(arn.as_str()));
        assert_eq!(
            tag.is_some(),
            tagged,
            "{arn}: tags and TagResource records differ"
        );
    }
    // And the trail, replayed records included, still verifies.
    check_trail_verifies(&server);
}

/// An operator command the KMS refuses (rotating a disabled key) changed nothing, so it
/// leaves no record claiming it did.
#[tokio::test]
async fn a_refused_operator_change_is_not_recorded_as_done() {
    let server = Server::start();
    let kms = no_retry_kms(&server);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    kms.disable_key().key_id(&arn).send().await.unwrap();
    let config = crate::rekey::admin_config(&server);
    let (ok, out) = crate::rekey::coffer_command(&config, "kms", &["rotate", &arn]);
    assert!(!ok, "rotating a disabled key succeeded: {out}");
    let records = audit_records(&server);
    assert!(
        !records
            .iter()
            .any(|r| r["eventName"] == "RotateKeyOnDemand" && key_arn_of(r) == Some(arn.as_str())),
        "a refused rotation is on record as done"
    );
}
