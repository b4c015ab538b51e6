//! Tests for the policy language, by what they test: `evaluation` (principals, actions,
//! resources, Deny over Allow, variables in resources, cost), `conditions` (every condition
//! operator), `parsing` (malformed documents and their messages), `properties` (property tests
//! against arbitrary input and a reference matcher) and `cache` (the parsed-policy cache). The
//! table helpers they share are here.

mod cache;
mod conditions;
mod evaluation;
mod parsing;
mod properties;

use crate::{Decision, Policy, Request};
use std::collections::BTreeMap;

const ACCOUNT: &str = "000000000000";
const ALICE: &str = "arn:aws:iam::000000000000:user/alice";
const BOB: &str = "arn:aws:iam::000000000000:user/bob";
const KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// A document shaped like KMS's default key policy (the account may do anything in `kms:*`);
/// coffer-kms tests the policy it really writes.
const ACCOUNT_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;

/// An owned request, so table rows can be built with a few chained calls.
#[derive(Debug, Clone)]
struct Req {
    principal: &'static str,
    account: Option<&'static str>,
    action: &'static str,
    resource: &'static str,
    context: BTreeMap<String, Vec<String>>,
}

/// Alice (not an account admin) doing `action` on the test key.
fn req(action: &'static str) -> Req {
    Req {
        principal: ALICE,
        account: None,
        action,
        resource: KEY,
        context: BTreeMap::new(),
    }
}

impl Req {
    fn by(mut self, principal: &'static str) -> Self {
        self.principal = principal;
        self
    }
    fn admin_of(mut self, account: &'static str) -> Self {
        self.account = Some(account);
        self
    }
    fn on(mut self, resource: &'static str) -> Self {
        self.resource = resource;
        self
    }
    fn with(mut self, key: &str, values: &[&str]) -> Self {
        let values = values.iter().map(|v| (*v).to_owned()).collect();
        self.context.insert(key.to_owned(), values);
        self
    }
    fn request(&self) -> Request<'_> {
        Request {
            principal_arn: self.principal,
            account_principal: self.account,
            action: self.action,
            resource: self.resource,
            context: &self.context,
        }
    }
}

fn decide(policy: &str, req: &Req) -> Decision {
    match Policy::parse(policy) {
        Ok(policy) => policy.evaluate(&req.request()),
        Err(e) => panic!("policy rejected: {e}\n{policy}"),
    }
}

/// One statement, so rows only spell out what they test.
fn statement(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{{{body}}}}}"#)
}

/// Allows everything, subject to `condition`.
fn allow_if(condition: &str) -> String {
    statement(&format!(
        r#""Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{condition}"#
    ))
}

/// Allows everything, but denies whatever matches `condition`.
fn deny_if(condition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
                {{"Effect":"Allow","Principal":"*","Action":"*"}},
                {{"Effect":"Deny","Principal":"*","Action":"*","Condition":{condition}}}]}}"#
    )
}

fn check_rows(rows: Vec<(&str, String, Req, Decision)>) {
    let mut failures = Vec::new();
    for (name, policy, req, expected) in &rows {
        let got = decide(policy, req);
        if got != *expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
