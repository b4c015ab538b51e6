//! `coffer audit verify`: checks every digest's signature and its link to the one before,
//! every log file against the hash its digest recorded, and the chain over every record:
//! digested log files, log files not yet digested, and the live journal, in order, up to the
//! anchored newest link. It names exactly what was changed, removed, inserted, reordered or
//! cut short, by file and position.

use std::collections::HashSet;

use serde_json::Value;

use crate::anchor::{ANCHOR_DIR, anchor_file, parse_anchor};
use crate::chain::{ChainKey, Link};
use crate::digest_state::{DigestState, read_state, signature_path, signed_string};
use crate::layout::{
    ANCHOR, HEAD, JOURNAL, Layout, PUBLIC_KEY, ROLLING, STATE, gunzip, sha256_hex,
};
use crate::signing::{fingerprint, verify as verify_signature};
use crate::stores::Stores;
use crate::trail_files::TrailFiles;
use crate::verify_walk::{LogFile, Target, Walk, record_name};

/// What a verification trusts besides the trail's own files.
pub struct Trust<'a> {
    /// The signing key's public half as known independently of the trail (from the sealed
    /// private key): without it the published `signing-key.pub` is used, which someone able
    /// to rewrite the trail could have replaced too.
    pub signing_key: Option<&'a [u8]>,
    /// The chain's MAC key (derived from the root key): without it records cannot be checked,
    /// and the verification fails.
    pub chain: Option<&'a ChainKey>,
    /// The anchors the metadata store keeps, one per stream (empty: none was ever written).
    pub stored_anchors: crate::AuditResult<Vec<Vec<u8>>>,
    /// A running server's newest acknowledged link, and the stream it appends.
    pub live_head: Option<(String, Link)>,
}

impl Trust<'_> {
    /// Only the files: no key, no anchor (checks digests and log files, not records).
    pub fn files_only() -> Self {
        Self {
            signing_key: None,
            chain: None,
            stored_anchors: Ok(Vec::new()),
            live_head: None,
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct Report {
    pub digests_checked: usize,
    pub log_files_checked: usize,
    /// Log files cut since the last digest: present, not yet covered by a signature, their
    /// records checked by the chain.
    pub not_yet_digested: usize,
    /// Records whose link was checked, wherever they are.
    pub records_checked: usize,
    /// Of those, records in the live journal (not yet cut).
    pub journal_records: usize,
    /// Records from before the chain existed (an older version's), only in digested files.
    pub unchained_records: usize,
    /// Everything wrong, one line each, naming the file.
    pub problems: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether there was anything to check at all (an empty trail is not "intact").
    pub fn checked_anything(&self) -> bool {
        self.records_checked + self.unchained_records + self.digests_checked > 0
    }
}

/// Verifies the trail under `layout.root` (`<data>/audit`): [`verify_in`] the local stores.
pub fn verify(layout: &Layout, trust: &Trust<'_>, from: Option<&str>, to: Option<&str>) -> Report {
    verify_in(layout, &Stores::local(layout), trust, from, to)
}

/// A file's content; missing and unreadable alike are `None` (the checks name the file).
fn read(files: &dyn TrailFiles, name: &str) -> Option<Vec<u8>> {
    files.read(name).ok().flatten()
}

/// A small text file's content: `None` when missing, unreadable or not UTF-8.
fn read_text(files: &dyn TrailFiles, name: &str) -> Option<String> {
    read(files, name).and_then(|b| String::from_utf8(b).ok())
}

/// Verifies the trail kept in `stores`. `from`/`to` (RFC 3339) restrict which digests' log
/// files have their hashes checked; both chains (digests, records) are always checked whole,
/// since a gap anywhere breaks them.
pub fn verify_in(
    layout: &Layout,
    stores: &Stores,
    trust: &Trust<'_>,
    from: Option<&str>,
    to: Option<&str>,
) -> Report {
    let mut report = Report::default();
    let files = stores.files.as_ref();
    let trusted_key = trust.signing_key;
    let mut walk = Walk {
        chain: trust.chain,
        prev: Default::default(),
        targets: Vec::new(),
    };
    match trust.chain {
        None => report.problems.push(
            "the records' chain cannot be checked without the root key (its MAC key derives from it)"
                .into(),
        ),
        Some(key) => {
            let stored = match &trust.stored_anchors {
                Ok(a) => a.clone(),
                Err(e) => {
                    report
                        .problems
                        .push(format!("the metadata store's anchors cannot be read: {e}"));
                    Vec::new()
                }
            };
            // The anchor files: the embedded trail's one, and a shared trail's per stream.
            let mut anchor_files: Vec<String> = vec![ANCHOR.to_owned()];
            anchor_files.extend(files.list(ANCHOR_DIR, ".json").unwrap_or_default());
            let mut with_file: HashSet<String> = HashSet::new();
            let mut found: Vec<(Vec<u8>, String)> = Vec::new();
            for name in anchor_files {
                if let Some(bytes) = read(files, &name) {
                    if let Ok((stream, _)) = parse_anchor(key, &bytes) {
                        with_file.insert(stream);
                    }
                    found.push((bytes, format!("audit/{name}")));
                }
            }
            for bytes in stored {
                if let Ok((stream, _)) = parse_anchor(key, &bytes)
                    && !with_file.contains(&stream)
                {
                    report.problems.push(format!(
                        "audit/{}: missing, though the metadata store holds an anchor: removed",
                        anchor_file(&stream)
                    ));
                }
                found.push((bytes, "the metadata store's anchor".to_owned()));
            }
            for (bytes, from) in found {
                match parse_anchor(key, &bytes) {
                    Ok((stream, link)) => walk.targets.push(Target {
                        stream,
                        link,
                        from,
                        met: false,
                    }),
                    Err(e) => report.problems.push(format!("{from}: {e}")),
                }
            }
            if let Some((stream, head)) = trust.live_head.clone().filter(|(_, h)| h.seq > 0) {
                walk.targets.push(Target {
                    stream,
                    link: head,
                    from: "the running server's head".to_owned(),
                    met: false,
                });
            }
        }
    }
    let published = read_text(files, PUBLIC_KEY).and_then(|s| hex::decode(s.trim()).ok());
    let public = match (trusted_key, published) {
        (Some(trusted), published) => {
            if published.as_deref() != Some(trusted) {
                report.problems.push(format!(
                    "{PUBLIC_KEY}: not the server's signing key (replaced, or missing)"
                ));
            }
            trusted.to_vec()
        }
        (None, Some(published)) => published,
        (None, None) => {
            report.problems.push(format!(
                "{PUBLIC_KEY}: the published public key is missing or unreadable"
            ));
            return report;
        }
    };
    let expected_fingerprint = fingerprint(&public);
    let mut covered: HashSet<String> = HashSet::new();
    let mut previous: Option<(String, String, String)> = None; // path, hash, signature
    let mut chain: Vec<(String, String)> = Vec::new(); // every digest: path, hash

    for name in list(files, &layout.digests_dir()) {
        report.digests_checked += 1;
        let raw = match files.read(&name) {
            Ok(Some(b)) => b,
            // Listed, then gone: removed while this ran.
            Ok(None) => {
                report
                    .problems
                    .push(format!("{name}: unreadable: listed, then gone"));
                continue;
            }
            Err(e) => {
                report.problems.push(format!("{name}: unreadable: {e}"));
                continue;
            }
        };
        let Ok(content) = gunzip(&raw) else {
            report.problems.push(format!(
                "{name}: truncated or corrupt (not a complete gzip file)"
            ));
            previous = None;
            continue;
        };
        let Ok(digest) = serde_json::from_slice::<Value>(&content) else {
            report
                .problems
                .push(format!("{name}: truncated or corrupt (not a JSON digest)"));
            previous = None;
            continue;
        };
        let hash = sha256_hex(&content);
        let end = digest["digestEndTime"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let own_path = digest["digestS3Object"].as_str().unwrap_or_default();
        if own_path != name {
            report.problems.push(format!(
                "{name}: names itself {own_path:?}: moved, renamed or swapped with another digest"
            ));
        }
        if digest["digestPublicKeyFingerprint"].as_str() != Some(expected_fingerprint.as_str()) {
            report.problems.push(format!(
                "{name}: signed with another key (fingerprint {} is not the published key's)",
                digest["digestPublicKeyFingerprint"]
            ));
        }
        let signature = read_text(files, &signature_path(&name)).map(|s| s.trim().to_owned());
        let previous_signature = digest["previousDigestSignature"].as_str();
        match &signature {
            None => report
                .problems
                .push(format!("{name}: its signature file is missing")),
            Some(sig) => {
                let signed = signed_string(&end, own_path, &hash, previous_signature);
                let ok = hex::decode(sig)
                    .is_ok_and(|s| verify_signature(&public, signed.as_bytes(), &s));
                if !ok {
                    report.problems.push(format!(
                        "{name}: the signature does not verify: the digest was changed or re-signed with another key"
                    ));
                }
            }
        }
        // The chain: each digest names the one before, its hash and its signature.
        let claimed_previous = digest["previousDigestS3Object"].as_str();
        match (&previous, claimed_previous) {
            (None, None) => {}
            (Some((p, h, s)), Some(claimed)) => {
                if claimed != p {
                    report.problems.push(format!(
                        "{name}: follows {claimed}, but the digest before it on disk is {p}: a digest was removed or reordered"
                    ));
                } else if digest["previousDigestHashValue"].as_str() != Some(h.as_str()) {
                    report.problems.push(format!(
                        "{p}: changed after {name} chained to it (hash differs)"
                    ));
                } else if previous_signature != Some(s.as_str()) {
                    report.problems.push(format!(
                        "{p}: its signature was replaced after {name} chained to it"
                    ));
                }
            }
            (None, Some(claimed)) => report.problems.push(format!(
                "{name}: follows {claimed}, which is missing: a digest was removed"
            )),
            (Some((p, _, _)), None) => report.problems.push(format!(
                "{name}: starts a new chain after {p}: the chain was broken"
            )),
        }
        chain.push((name.clone(), hash.clone()));
        previous = signature.map(|s| (name.clone(), hash, s));

        let in_range = from.is_none_or(|f| end.as_str() >= f)
            && to.is_none_or(|t| digest["digestStartTime"].as_str().unwrap_or(&end) <= t);
        for file in digest["logFiles"].as_array().into_iter().flatten() {
            let path = file["s3Object"].as_str().unwrap_or_default().to_owned();
            covered.insert(path.clone());
            let log = read_log(files, &path);
            walk.file_records(&path, &log, &mut report);
            if !in_range {
                continue;
            }
            report.log_files_checked += 1;
            check_log_file(&path, &log, file, &mut report);
        }
    }

    // The chain must end where the signed head says: a missing newest digest would
    // otherwise leave a shorter chain that verifies.
    check_head(files, &public, &chain, &mut report);

    // Log files cut since the last digest, in the order the (authenticated) state lists them:
    // their records continue the chain.
    let anchored = !walk.targets.is_empty();
    let state = match trust.chain {
        Some(key) => match read_state(files, key, anchored) {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(format!("audit/{e}"));
                DigestState::default()
            }
        },
        None => DigestState::default(),
    };
    if anchored && !files.exists(STATE).unwrap_or(false) && !report_has_no_files(layout, files) {
        report.problems.push(format!(
            "audit/{STATE}: missing, though the trail is chained: removed"
        ));
    }
    for entry in &state.pending {
        if covered.contains(&entry.path) {
            continue;
        }
        let log = read_log(files, &entry.path);
        let intact = match &log {
            LogFile::Missing => {
                report.problems.push(format!(
                    "{}: removed (cut from the journal, not yet digested)",
                    entry.path
                ));
                continue;
            }
            LogFile::Corrupt => false,
            LogFile::Content(c) => sha256_hex(c) == entry.hash,
        };
        if !intact {
            report.problems.push(format!(
                "{}: changed since it was cut (its hash is not the one recorded)",
                entry.path
            ));
        }
        walk.file_records(&entry.path, &log, &mut report);
    }
    let journal = stores.journal.as_ref();
    walk.lines(
        journal.read_unfinished_cut().ok().flatten(),
        ROLLING,
        &mut report,
    );
    report.journal_records = walk.lines(journal.read().ok(), JOURNAL, &mut report);

    // The end of each chain: every anchor and the live head must have been met.
    for t in &walk.targets {
        if t.met {
            continue;
        }
        let end = walk.prev.get(&t.stream).map_or(0, |p| p.seq);
        let (from, name) = (&t.from, record_name(&t.stream, t.link.seq));
        report.problems.push(if t.link.seq > end {
            format!(
                "{from} names {name}, but the trail ends at record {end}: the newest records were removed"
            )
        } else {
            format!("{from} names {name}, which is not in the trail: removed")
        });
    }
    if anchored && report.records_checked == 0 {
        report.problems.push(
            "no record could be checked, though the trail was anchored: its files were removed"
                .into(),
        );
    }

    // Log files no digest covers: inserted, unless cut since the last digest.
    let pending: HashSet<String> = state.pending.into_iter().map(|p| p.path).collect();
    for name in list(files, &layout.logs_dir()) {
        if covered.contains(&name) {
            continue;
        }
        if pending.contains(&name) {
            report.not_yet_digested += 1;
        } else {
            report.problems.push(format!(
                "{name}: not covered by any digest: added to the trail"
            ));
        }
    }
    report
}

fn check_head(
    files: &dyn TrailFiles,
    public: &[u8],
    chain: &[(String, String)],
    report: &mut Report,
) {
    let head = read(files, HEAD);
    let signature =
        read_text(files, &signature_path(HEAD)).and_then(|s| hex::decode(s.trim()).ok());
    let (head, signature) = match (head, signature) {
        (Some(h), Some(s)) => (h, s),
        _ if chain.is_empty() => return, // no digest yet
        _ => {
            report.problems.push(format!(
                "{HEAD}: missing or unsigned, though digests exist: the chain's end cannot be checked"
            ));
            return;
        }
    };
    if !verify_signature(public, &head, &signature) {
        report.problems.push(format!(
            "{HEAD}: the signature does not verify: changed or re-signed with another key"
        ));
        return;
    }
    let head: Value = serde_json::from_slice(&head).unwrap_or_default();
    let named = head["digest"].as_str().unwrap_or_default();
    let hash = head["hash"].as_str().unwrap_or_default();
    // The head is written just after its digest, so a digest being written while this runs
    // may be one newer than the head; anything else means the chain's end was cut off.
    let recent = chain.iter().rev().take(2);
    if !recent.clone().any(|(p, h)| p == named && h == hash) {
        let end = chain.last().map_or("nothing", |(p, _)| p.as_str());
        report.problems.push(format!(
            "{named}: the newest digest the signed head names is not the chain's end ({end} is): digests at the end were removed or replaced"
        ));
    }
}

/// Reads a log file once, for both its hash check and its records.
fn read_log(files: &dyn TrailFiles, path: &str) -> LogFile {
    match read(files, path) {
        None => LogFile::Missing,
        Some(raw) => gunzip(&raw).map_or(LogFile::Corrupt, LogFile::Content),
    }
}

fn check_log_file(path: &str, log: &LogFile, entry: &Value, report: &mut Report) {
    let content = match log {
        LogFile::Missing => {
            report
                .problems
                .push(format!("{path}: removed (its digest lists it)"));
            return;
        }
        LogFile::Corrupt => {
            report.problems.push(format!(
                "{path}: truncated or corrupt (not a complete gzip file)"
            ));
            return;
        }
        LogFile::Content(c) => c,
    };
    if Some(sha256_hex(content).as_str()) != entry["hashValue"].as_str() {
        let swapped = serde_json::from_slice::<Value>(content).is_ok();
        report.problems.push(if swapped {
            format!("{path}: changed: its records differ from what the digest signed (edited, or swapped with another file)")
        } else {
            format!("{path}: changed: no longer the JSON the digest signed")
        });
    }
}

/// The log files or digests in `folder`, in name order. A folder that cannot be listed is
/// taken as empty: what should be in it is named by the digests, the state and the head.
fn list(files: &dyn TrailFiles, folder: &str) -> Vec<String> {
    files.list(folder, ".json.gz").unwrap_or_default()
}

/// Whether the trail holds no digest and no log file.
fn report_has_no_files(layout: &Layout, files: &dyn TrailFiles) -> bool {
    list(files, &layout.digests_dir()).is_empty() && list(files, &layout.logs_dir()).is_empty()
}
