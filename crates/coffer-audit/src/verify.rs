//! `coffer audit verify`: checks every digest's signature and its link to the one before,
//! and every log file against the hash its digest recorded, and names exactly what was
//! changed, removed, inserted or cut short. Needs only the files and the published public
//! key, so it runs beside a live server.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::layout::{HEAD, Layout, PUBLIC_KEY, files_ending, gunzip, sha256_hex};
use crate::signing::{fingerprint, verify as verify_signature};
use crate::trail::{DigestState, signature_path, signed_string};

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct Report {
    pub digests_checked: usize,
    pub log_files_checked: usize,
    /// Log files cut since the last digest: present, not yet covered by a signature.
    pub not_yet_digested: usize,
    /// Everything wrong, one line each, naming the file.
    pub problems: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Verifies the trail. `trusted_key` is the signing key's public half as the verifier knows
/// it independently of the trail (from the sealed private key, or pinned by the operator):
/// without it the published `signing-key.pub` is used, which someone able to rewrite the
/// trail could have replaced too. `from`/`to` (RFC 3339) restrict which digests' log files
/// are checked; the chain is always checked whole, since a gap anywhere breaks it.
pub fn verify(
    layout: &Layout,
    trusted_key: Option<&[u8]>,
    from: Option<&str>,
    to: Option<&str>,
) -> Report {
    let mut report = Report::default();
    let root = &layout.root;
    let published = std::fs::read_to_string(root.join(PUBLIC_KEY))
        .ok()
        .and_then(|s| hex::decode(s.trim()).ok());
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

    for digest_path in files_ending(&layout.digests_dir(), ".json.gz") {
        let name = relative(root, &digest_path);
        report.digests_checked += 1;
        let raw = match std::fs::read(&digest_path) {
            Ok(b) => b,
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
        let signature = std::fs::read_to_string(signature_path(&digest_path))
            .ok()
            .map(|s| s.trim().to_owned());
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
            if !in_range {
                continue;
            }
            report.log_files_checked += 1;
            check_log_file(root, &path, file, &mut report);
        }
    }

    // The chain must end where the signed head says: a missing newest digest would
    // otherwise leave a shorter chain that verifies.
    check_head(root, &public, &chain, &mut report);

    // Log files no digest covers: inserted, unless cut since the last digest.
    let pending: HashSet<String> = std::fs::read(root.join("digest-state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<DigestState>(&b).ok())
        .map(|s| s.pending.into_iter().map(|p| p.path).collect())
        .unwrap_or_default();
    for log in files_ending(&layout.logs_dir(), ".json.gz") {
        let name = relative(root, &log);
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

fn check_head(root: &Path, public: &[u8], chain: &[(String, String)], report: &mut Report) {
    let head = std::fs::read(root.join(HEAD)).ok();
    let signature = std::fs::read_to_string(signature_path(&root.join(HEAD)))
        .ok()
        .and_then(|s| hex::decode(s.trim()).ok());
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

fn check_log_file(root: &Path, path: &str, entry: &Value, report: &mut Report) {
    let raw = match std::fs::read(root.join(path)) {
        Ok(b) => b,
        Err(_) => {
            report
                .problems
                .push(format!("{path}: removed (its digest lists it)"));
            return;
        }
    };
    let Ok(content) = gunzip(&raw) else {
        report.problems.push(format!(
            "{path}: truncated or corrupt (not a complete gzip file)"
        ));
        return;
    };
    if Some(sha256_hex(&content).as_str()) != entry["hashValue"].as_str() {
        let swapped = serde_json::from_slice::<Value>(&content).is_ok();
        report.problems.push(if swapped {
            format!("{path}: changed: its records differ from what the digest signed (edited, or swapped with another file)")
        } else {
            format!("{path}: changed: no longer the JSON the digest signed")
        });
    }
}
