//! Tests for the policy language: decision tables, malformed documents and property tests.

use super::glob::glob;
use super::pattern::{Seg, Syntax, Template};
use super::{Decision, Policy, Request};
use Decision::{Allow, ExplicitDeny, NotApplicable};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

const ACCOUNT: &str = "000000000000";
const ALICE: &str = "arn:aws:iam::000000000000:user/alice";
const BOB: &str = "arn:aws:iam::000000000000:user/bob";
const KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const DEFAULT_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;

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

#[test]
fn principals_actions_resources() {
    let everyone = |extra: &str| statement(&format!(r#""Effect":"Allow","Principal":"*",{extra}"#));
    let principal = |p: &str| {
        statement(&format!(
            r#""Effect":"Allow","Principal":{p},"Action":"kms:*","Resource":"*""#
        ))
    };
    let s3 = "arn:aws:s3:::bucket/photos/cat.jpg";
    check_rows(vec![
        ("default policy: account admin", DEFAULT_KEY_POLICY.into(), req("kms:Decrypt").admin_of(ACCOUNT), Allow),
        ("default policy: not an admin", DEFAULT_KEY_POLICY.into(), req("kms:Decrypt"), NotApplicable),
        ("default policy: other account", DEFAULT_KEY_POLICY.into(), req("kms:Decrypt").admin_of("111122223333"), NotApplicable),
        ("default policy: other service", DEFAULT_KEY_POLICY.into(), req("s3:GetObject").admin_of(ACCOUNT), NotApplicable),
        ("action case-insensitive", DEFAULT_KEY_POLICY.into(), req("KMS:decrypt").admin_of(ACCOUNT), Allow),
        ("principal *", principal(r#""*""#), req("kms:Encrypt").by(BOB), Allow),
        ("principal AWS *", principal(r#"{"AWS":"*"}"#), req("kms:Encrypt").by(BOB), Allow),
        ("bare account id", principal(r#"{"AWS":"000000000000"}"#), req("kms:Encrypt").admin_of(ACCOUNT), Allow),
        ("bare account id, not admin", principal(r#"{"AWS":"000000000000"}"#), req("kms:Encrypt"), NotApplicable),
        ("user list", principal(&format!(r#"{{"AWS":["{BOB}","{ALICE}"]}}"#)), req("kms:Encrypt"), Allow),
        ("user exact, other user", principal(&format!(r#"{{"AWS":"{BOB}"}}"#)), req("kms:Encrypt"), NotApplicable),
        ("user wildcard *", principal(r#"{"AWS":"arn:aws:iam::000000000000:user/al*"}"#), req("kms:Encrypt"), Allow),
        ("user wildcard ?", principal(r#"{"AWS":"arn:aws:iam::000000000000:user/b?b"}"#), req("kms:Encrypt").by(BOB), Allow),
        ("service principal never a user", principal(r#"{"Service":"s3.amazonaws.com"}"#), req("kms:Encrypt"), NotApplicable),
        ("mixed principal types", principal(&format!(r#"{{"Service":["s3.amazonaws.com"],"AWS":"{ALICE}"}}"#)), req("kms:Encrypt"), Allow),
        ("action prefix wildcard", everyone(r#""Action":"kms:Generate*""#), req("kms:GenerateDataKey"), Allow),
        ("action prefix wildcard, no match", everyone(r#""Action":"kms:Generate*""#), req("kms:Decrypt"), NotApplicable),
        ("action ? wildcard", everyone(r#""Action":"kms:?ncrypt""#), req("kms:Encrypt"), Allow),
        ("action list", everyone(r#""Action":["kms:Encrypt","kms:Decrypt"]"#), req("kms:Decrypt"), Allow),
        ("action * covers other services", everyone(r#""Action":"*""#), req("s3:PutObject"), Allow),
        ("NotAction: other action", everyone(r#""NotAction":"kms:ScheduleKeyDeletion""#), req("kms:Decrypt"), Allow),
        ("NotAction: listed action", everyone(r#""NotAction":"kms:ScheduleKeyDeletion""#), req("kms:ScheduleKeyDeletion"), NotApplicable),
        ("resource exact", everyone(&format!(r#""Action":"kms:*","Resource":"{KEY}""#)), req("kms:Decrypt"), Allow),
        ("resource exact, other key", everyone(&format!(r#""Action":"kms:*","Resource":"{KEY}""#)), req("kms:Decrypt").on("arn:aws:kms:us-east-1:000000000000:key/other"), NotApplicable),
        ("resource wildcard", everyone(r#""Action":"s3:Get*","Resource":"arn:aws:s3:::bucket/*""#), req("s3:GetObject").on(s3), Allow),
        ("resource wildcard, other bucket", everyone(r#""Action":"s3:Get*","Resource":"arn:aws:s3:::bucket/*""#), req("s3:GetObject").on("arn:aws:s3:::other/x"), NotApplicable),
        ("resource case-sensitive", everyone(r#""Action":"s3:*","Resource":"arn:aws:s3:::Bucket/*""#), req("s3:GetObject").on(s3), NotApplicable),
        ("resource ? wildcard", everyone(r#""Action":"s3:*","Resource":"arn:aws:s3:::bucket/photos/ca?.jpg""#), req("s3:GetObject").on(s3), Allow),
        ("NotResource: elsewhere", everyone(r#""Action":"s3:*","NotResource":"arn:aws:s3:::bucket/private/*""#), req("s3:GetObject").on(s3), Allow),
        ("NotResource: inside", everyone(r#""Action":"s3:*","NotResource":"arn:aws:s3:::bucket/private/*""#), req("s3:GetObject").on("arn:aws:s3:::bucket/private/x"), NotApplicable),
        ("missing Resource covers all", everyone(r#""Action":"kms:*""#), req("kms:Decrypt").on("arn:anything"), Allow),
        ("Statement as an object, no Version",
            format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Decrypt"}}}}"#),
            req("kms:Decrypt"), Allow),
        ("deny beats allow",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"},{"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion"}]}"#.into(),
            req("kms:ScheduleKeyDeletion"), ExplicitDeny),
        ("deny beats allow, deny listed first",
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*"},{"Effect":"Allow","Principal":"*","Action":"kms:*"}]}"#.into(),
            req("kms:Decrypt"), ExplicitDeny),
        ("non-matching deny",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"},{"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion"}]}"#.into(),
            req("kms:Decrypt"), Allow),
        ("deny alone",
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt"}}"#.into(),
            req("kms:Encrypt"), NotApplicable),
        ("NotPrincipal deny spares the listed user",
            format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"*"}},{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ALICE}"}},"Action":"*"}}]}}"#),
            req("kms:Decrypt"), Allow),
        ("NotPrincipal deny hits everyone else",
            format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"*"}},{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ALICE}"}},"Action":"*"}}]}}"#),
            req("kms:Decrypt").by(BOB), ExplicitDeny),
        ("NotPrincipal account",
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"*"}}"#.into(),
            req("kms:Decrypt").admin_of("111122223333"), NotApplicable),
        ("resource variable",
            everyone(r#""Action":"s3:*","Resource":"arn:aws:s3:::bucket/home/${aws:username}/*""#),
            req("s3:GetObject").on("arn:aws:s3:::bucket/home/alice/x").with("aws:username", &["alice"]), Allow),
        ("resource variable, other user's home",
            everyone(r#""Action":"s3:*","Resource":"arn:aws:s3:::bucket/home/${aws:username}/*""#),
            req("s3:GetObject").on("arn:aws:s3:::bucket/home/bob/x").with("aws:username", &["alice"]), NotApplicable),
        ("resource variable unresolved",
            everyone(r#""Action":"s3:*","Resource":"arn:aws:s3:::bucket/home/${aws:username}/*""#),
            req("s3:GetObject").on("arn:aws:s3:::bucket/home/alice/x"), NotApplicable),
        ("NotResource variable unresolved",
            everyone(r#""Action":"s3:*","NotResource":"arn:aws:s3:::bucket/home/${aws:username}/*""#),
            req("s3:GetObject").on("arn:aws:s3:::bucket/public/x"), NotApplicable),
        ("resource variable value is literal, not a wildcard",
            everyone(r#""Action":"s3:*","Resource":"arn:aws:s3:::bucket/${aws:username}""#),
            req("s3:GetObject").on("arn:aws:s3:::bucket/alice").with("aws:username", &["*"]), NotApplicable),
        ("variables are literal text before 2012-10-17",
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b/${aws:username}"}}"#.into(),
            req("s3:GetObject").on("arn:aws:s3:::b/${aws:username}").with("aws:username", &["alice"]), Allow),
    ]);
}

#[test]
fn condition_operators() {
    let ip = "aws:SourceIp";
    let now = "aws:CurrentTime";
    let arn = "aws:SourceArn";
    let tags = "aws:TagKeys";
    check_rows(vec![
        (
            "StringEquals",
            allow_if(
                r#"{"StringEquals":{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::bucket"}}"#,
            ),
            req("kms:Decrypt").with("kms:EncryptionContext:aws:s3:arn", &["arn:aws:s3:::bucket"]),
            Allow,
        ),
        (
            "StringEquals: key names case-insensitive",
            allow_if(
                r#"{"StringEquals":{"KMS:EncryptionContext:AWS:S3:ARN":"arn:aws:s3:::bucket"}}"#,
            ),
            req("kms:Decrypt").with("kms:encryptioncontext:aws:s3:arn", &["arn:aws:s3:::bucket"]),
            Allow,
        ),
        (
            "StringEquals: values case-sensitive",
            allow_if(r#"{"StringEquals":{"aws:username":"Alice"}}"#),
            req("x:y").with("aws:username", &["alice"]),
            NotApplicable,
        ),
        (
            "StringEquals: missing key",
            allow_if(r#"{"StringEquals":{"aws:username":"alice"}}"#),
            req("x:y"),
            NotApplicable,
        ),
        (
            "StringEquals: values ORed",
            allow_if(r#"{"StringEquals":{"aws:username":["bob","alice"]}}"#),
            req("x:y").with("aws:username", &["alice"]),
            Allow,
        ),
        (
            "StringEquals: * is literal",
            allow_if(r#"{"StringEquals":{"aws:username":"*"}}"#),
            req("x:y").with("aws:username", &["alice"]),
            NotApplicable,
        ),
        (
            "keys ANDed",
            allow_if(r#"{"StringEquals":{"aws:username":"alice","s3:prefix":"home/"}}"#),
            req("x:y")
                .with("aws:username", &["alice"])
                .with("s3:prefix", &["tmp/"]),
            NotApplicable,
        ),
        (
            "operators ANDed: both hold",
            allow_if(
                r#"{"StringEquals":{"aws:username":"alice"},"Bool":{"aws:SecureTransport":"true"}}"#,
            ),
            req("x:y")
                .with("aws:username", &["alice"])
                .with("aws:SecureTransport", &["true"]),
            Allow,
        ),
        (
            "operators ANDed: one fails",
            allow_if(
                r#"{"StringEquals":{"aws:username":"alice"},"Bool":{"aws:SecureTransport":"true"}}"#,
            ),
            req("x:y")
                .with("aws:username", &["alice"])
                .with("aws:SecureTransport", &["false"]),
            NotApplicable,
        ),
        (
            "StringNotEquals: differs",
            allow_if(r#"{"StringNotEquals":{"aws:username":["bob","carol"]}}"#),
            req("x:y").with("aws:username", &["alice"]),
            Allow,
        ),
        (
            "StringNotEquals: equals one",
            allow_if(r#"{"StringNotEquals":{"aws:username":["bob","alice"]}}"#),
            req("x:y").with("aws:username", &["alice"]),
            NotApplicable,
        ),
        (
            "StringNotEquals: missing key is true",
            allow_if(r#"{"StringNotEquals":{"aws:username":"bob"}}"#),
            req("x:y"),
            Allow,
        ),
        (
            "StringEqualsIgnoreCase",
            allow_if(r#"{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}"#),
            req("x:y").with("aws:username", &["Alice"]),
            Allow,
        ),
        (
            "StringNotEqualsIgnoreCase",
            allow_if(r#"{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}"#),
            req("x:y").with("aws:username", &["alice"]),
            NotApplicable,
        ),
        (
            "StringLike with variable",
            allow_if(r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#),
            req("x:y")
                .with("s3:prefix", &["home/alice/docs"])
                .with("aws:username", &["alice"]),
            Allow,
        ),
        (
            "StringLike with variable, other user",
            allow_if(r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#),
            req("x:y")
                .with("s3:prefix", &["home/bob/docs"])
                .with("aws:username", &["alice"]),
            NotApplicable,
        ),
        (
            "StringLike unresolved variable",
            allow_if(r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#),
            req("x:y").with("s3:prefix", &["home/alice/docs"]),
            NotApplicable,
        ),
        (
            "StringNotLike unresolved variable fails",
            allow_if(r#"{"StringNotLike":{"s3:prefix":"home/${aws:username}/*"}}"#),
            req("x:y").with("s3:prefix", &["tmp/x"]),
            NotApplicable,
        ),
        (
            "variable default",
            allow_if(r#"{"StringEquals":{"s3:prefix":"home/${aws:username, 'anonymous'}"}}"#),
            req("x:y").with("s3:prefix", &["home/anonymous"]),
            Allow,
        ),
        (
            "${*} escape is a literal star",
            allow_if(r#"{"StringLike":{"s3:prefix":"a${*}"}}"#),
            req("x:y").with("s3:prefix", &["a*"]),
            Allow,
        ),
        (
            "${*} escape is not a wildcard",
            allow_if(r#"{"StringLike":{"s3:prefix":"a${*}"}}"#),
            req("x:y").with("s3:prefix", &["ab"]),
            NotApplicable,
        ),
        (
            "${$} and ${?} escapes",
            allow_if(r#"{"StringEquals":{"s3:prefix":"${$}{x}${?}"}}"#),
            req("x:y").with("s3:prefix", &["${x}?"]),
            Allow,
        ),
        (
            "StringNotLike",
            allow_if(r#"{"StringNotLike":{"s3:prefix":["private/*","secret/*"]}}"#),
            req("x:y").with("s3:prefix", &["public/a"]),
            Allow,
        ),
        (
            "StringNotLike: matches one",
            allow_if(r#"{"StringNotLike":{"s3:prefix":["private/*","secret/*"]}}"#),
            req("x:y").with("s3:prefix", &["secret/a"]),
            NotApplicable,
        ),
        (
            "NumericLessThan",
            allow_if(r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#),
            req("x:y").with("s3:max-keys", &["5"]),
            Allow,
        ),
        (
            "NumericLessThan: equal",
            allow_if(r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#),
            req("x:y").with("s3:max-keys", &["10"]),
            NotApplicable,
        ),
        (
            "NumericLessThanEquals",
            allow_if(r#"{"NumericLessThanEquals":{"s3:max-keys":10}}"#),
            req("x:y").with("s3:max-keys", &["10"]),
            Allow,
        ),
        (
            "NumericGreaterThan",
            allow_if(r#"{"NumericGreaterThan":{"s3:max-keys":10}}"#),
            req("x:y").with("s3:max-keys", &["10.5"]),
            Allow,
        ),
        (
            "NumericGreaterThanEquals",
            allow_if(r#"{"NumericGreaterThanEquals":{"s3:max-keys":10}}"#),
            req("x:y").with("s3:max-keys", &["9"]),
            NotApplicable,
        ),
        (
            "NumericEquals, JSON number",
            allow_if(r#"{"NumericEquals":{"s3:max-keys":[1,10]}}"#),
            req("x:y").with("s3:max-keys", &["10.0"]),
            Allow,
        ),
        (
            "NumericNotEquals",
            allow_if(r#"{"NumericNotEquals":{"s3:max-keys":10}}"#),
            req("x:y").with("s3:max-keys", &["10"]),
            NotApplicable,
        ),
        (
            "Numeric: unreadable request value",
            allow_if(r#"{"NumericLessThan":{"s3:max-keys":10}}"#),
            req("x:y").with("s3:max-keys", &["five"]),
            NotApplicable,
        ),
        (
            "DateGreaterThan",
            allow_if(r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#),
            req("x:y").with(now, &["2026-06-01T12:00:00Z"]),
            Allow,
        ),
        (
            "DateGreaterThan: earlier",
            allow_if(r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#),
            req("x:y").with(now, &["2025-12-31T23:59:59Z"]),
            NotApplicable,
        ),
        (
            "DateLessThan, epoch seconds",
            allow_if(r#"{"DateLessThan":{"aws:EpochTime":1767225600}}"#),
            req("x:y").with("aws:EpochTime", &["1767225599"]),
            Allow,
        ),
        (
            "DateLessThanEquals, mixed forms",
            allow_if(r#"{"DateLessThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#),
            req("x:y").with(now, &["1767225600"]),
            Allow,
        ),
        (
            "DateGreaterThanEquals, offset",
            allow_if(r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#),
            req("x:y").with(now, &["2026-01-01T01:00:00+01:00"]),
            Allow,
        ),
        (
            "DateEquals, bare date",
            allow_if(r#"{"DateEquals":{"aws:CurrentTime":"2026-01-01"}}"#),
            req("x:y").with(now, &["2026-01-01T00:00:00Z"]),
            Allow,
        ),
        (
            "DateNotEquals",
            allow_if(r#"{"DateNotEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#),
            req("x:y").with(now, &["2026-01-01T00:00:00.000Z"]),
            NotApplicable,
        ),
        (
            "Bool deny plain HTTP",
            deny_if(r#"{"Bool":{"aws:SecureTransport":"false"}}"#),
            req("s3:GetObject").with("aws:SecureTransport", &["false"]),
            ExplicitDeny,
        ),
        (
            "Bool over TLS",
            deny_if(r#"{"Bool":{"aws:SecureTransport":false}}"#),
            req("s3:GetObject").with("aws:SecureTransport", &["true"]),
            Allow,
        ),
        (
            "Bool: missing key",
            deny_if(r#"{"Bool":{"aws:SecureTransport":"false"}}"#),
            req("s3:GetObject"),
            Allow,
        ),
        (
            "BinaryEquals",
            allow_if(r#"{"BinaryEquals":{"x:blob":"QmluYXJ5"}}"#),
            req("x:y").with("x:blob", &["QmluYXJ5"]),
            Allow,
        ),
        (
            "BinaryEquals: other bytes",
            allow_if(r#"{"BinaryEquals":{"x:blob":"QmluYXJ5"}}"#),
            req("x:y").with("x:blob", &["QmluYXJ6"]),
            NotApplicable,
        ),
        (
            "IpAddress",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.0.0.0/8"]}}"#),
            req("x:y").with(ip, &["10.1.2.3"]),
            Allow,
        ),
        (
            "IpAddress: outside",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
            req("x:y").with(ip, &["11.0.0.1"]),
            NotApplicable,
        ),
        (
            "IpAddress: IPv4-mapped client",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
            req("x:y").with(ip, &["::ffff:10.9.9.9"]),
            Allow,
        ),
        (
            "IpAddress: single host",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}"#),
            req("x:y").with(ip, &["203.0.113.7"]),
            Allow,
        ),
        (
            "IpAddress: IPv6",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#),
            req("x:y").with(ip, &["2001:db8:1::5"]),
            Allow,
        ),
        (
            "IpAddress: /0",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#),
            req("x:y").with(ip, &["8.8.8.8"]),
            Allow,
        ),
        (
            "IpAddress: family mismatch",
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#),
            req("x:y").with(ip, &["10.0.0.1"]),
            NotApplicable,
        ),
        (
            "NotIpAddress deny",
            deny_if(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
            req("x:y").with(ip, &["8.8.8.8"]),
            ExplicitDeny,
        ),
        (
            "NotIpAddress deny, inside",
            deny_if(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
            req("x:y").with(ip, &["10.0.0.8"]),
            Allow,
        ),
        (
            "ArnLike",
            allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::bucket-*"}}"#),
            req("x:y").with(arn, &["arn:aws:s3:::bucket-logs"]),
            Allow,
        ),
        (
            "ArnEquals takes wildcards too",
            allow_if(r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:123456789012:topic"}}"#),
            req("x:y").with(arn, &["arn:aws:sns:us-east-1:123456789012:topic"]),
            Allow,
        ),
        (
            "ArnLike: * stays inside its part",
            allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:123456789012:topic"}}"#),
            req("x:y").with(arn, &["arn:aws:sns:us-east-1:999:123456789012:topic"]),
            NotApplicable,
        ),
        (
            "ArnLike: resource part keeps colons",
            allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:logs:*:*:log-group:*"}}"#),
            req("x:y").with(arn, &["arn:aws:logs:us-east-1:1:log-group:a:b"]),
            Allow,
        ),
        (
            "ArnNotEquals",
            allow_if(r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::bucket"}}"#),
            req("x:y").with(arn, &["arn:aws:s3:::other"]),
            Allow,
        ),
        (
            "ArnNotLike",
            allow_if(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::b*"}}"#),
            req("x:y").with(arn, &["arn:aws:s3:::bucket"]),
            NotApplicable,
        ),
        (
            "ArnLike: not an ARN",
            allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}"#),
            req("x:y").with(arn, &["bucket"]),
            NotApplicable,
        ),
        (
            "Null true: absent",
            allow_if(r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#),
            req("x:y"),
            Allow,
        ),
        (
            "Null true: present",
            allow_if(r#"{"Null":{"s3:x-amz-server-side-encryption":true}}"#),
            req("x:y").with("s3:x-amz-server-side-encryption", &["AES256"]),
            NotApplicable,
        ),
        (
            "Null false: present",
            allow_if(r#"{"Null":{"s3:x-amz-server-side-encryption":"false"}}"#),
            req("x:y").with("s3:x-amz-server-side-encryption", &["AES256"]),
            Allow,
        ),
        (
            "Null false: absent",
            allow_if(r#"{"Null":{"s3:x-amz-server-side-encryption":"false"}}"#),
            req("x:y"),
            NotApplicable,
        ),
        (
            "IfExists: absent",
            allow_if(r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#),
            req("x:y"),
            Allow,
        ),
        (
            "IfExists: present, mismatch",
            allow_if(r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#),
            req("x:y").with("s3:x-amz-server-side-encryption", &["AES256"]),
            NotApplicable,
        ),
        (
            "IfExists: present, match",
            allow_if(r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#),
            req("x:y").with("s3:x-amz-server-side-encryption", &["aws:kms"]),
            Allow,
        ),
        (
            "NumericLessThanIfExists: absent",
            allow_if(r#"{"NumericLessThanIfExists":{"s3:max-keys":10}}"#),
            req("x:y"),
            Allow,
        ),
        (
            "NotIpAddressIfExists: absent",
            deny_if(r#"{"NotIpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#),
            req("x:y"),
            ExplicitDeny,
        ),
        (
            "DateLessThanIfExists: present",
            allow_if(r#"{"DateLessThanIfExists":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#),
            req("x:y").with(now, &["2027-01-01T00:00:00Z"]),
            NotApplicable,
        ),
        (
            "ForAnyValue: overlap",
            allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["x","y"]}}"#),
            req("x:y").with(tags, &["a", "x"]),
            Allow,
        ),
        (
            "ForAnyValue: disjoint",
            allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["x","y"]}}"#),
            req("x:y").with(tags, &["a", "b"]),
            NotApplicable,
        ),
        (
            "ForAnyValue: missing key",
            allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["x","y"]}}"#),
            req("x:y"),
            NotApplicable,
        ),
        (
            "ForAnyValue:StringLike",
            allow_if(r#"{"ForAnyValue:StringLike":{"aws:TagKeys":"team-*"}}"#),
            req("x:y").with(tags, &["cost", "team-a"]),
            Allow,
        ),
        (
            "ForAllValues: subset",
            allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b","c"]}}"#),
            req("x:y").with(tags, &["a", "b"]),
            Allow,
        ),
        (
            "ForAllValues: one outside",
            allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b","c"]}}"#),
            req("x:y").with(tags, &["a", "z"]),
            NotApplicable,
        ),
        (
            "ForAllValues: missing key is true",
            allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}"#),
            req("x:y"),
            Allow,
        ),
        (
            "ForAllValues: empty list is missing",
            allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}"#),
            req("x:y").with(tags, &[]),
            Allow,
        ),
        (
            "ForAllValues:StringNotEquals",
            allow_if(r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret"]}}"#),
            req("x:y").with(tags, &["a", "secret"]),
            NotApplicable,
        ),
        (
            "ForAnyValue:StringNotEquals",
            allow_if(r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["secret"]}}"#),
            req("x:y").with(tags, &["a", "secret"]),
            Allow,
        ),
        (
            "ForAnyValue:StringEqualsIfExists: missing",
            allow_if(r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#),
            req("x:y"),
            Allow,
        ),
        (
            "multi-valued key, positive op",
            allow_if(r#"{"StringEquals":{"aws:TagKeys":"a"}}"#),
            req("x:y").with(tags, &["b", "a"]),
            Allow,
        ),
        (
            "multi-valued key, negated op",
            allow_if(r#"{"StringNotEquals":{"aws:TagKeys":"a"}}"#),
            req("x:y").with(tags, &["b", "a"]),
            NotApplicable,
        ),
        (
            "operator names case-insensitive",
            allow_if(r#"{"forallvalues:stringequalsifexists":{"aws:TagKeys":"a"}}"#),
            req("x:y").with(tags, &["a"]),
            Allow,
        ),
        (
            "KMS encryption context guard",
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::bucket"}}}}}}]}}"#
            ),
            req("kms:GenerateDataKeyWithoutPlaintext")
                .with("kms:EncryptionContext:aws:s3:arn", &["arn:aws:s3:::bucket"]),
            Allow,
        ),
    ]);
}

#[test]
fn malformed_policies_are_rejected_with_a_useful_message() {
    let ok = r#""Effect":"Allow","Principal":"*","Action":"*""#;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "not valid JSON"),
        ("".into(), "not valid JSON"),
        ("[]".into(), "must be a JSON object"),
        (r#"{"Version":"2012-10-17"}"#.into(), "Statement is missing"),
        (r#"{"Statement":[]}"#.into(), "Statement must not be empty"),
        (r#"{"Statement":"x"}"#.into(), "Statement must be an object"),
        (
            format!(r#"{{"Version":"2020-01-01","Statement":{{{ok}}}}}"#),
            "Version must be",
        ),
        (
            format!(r#"{{"Version":20121017,"Statement":{{{ok}}}}}"#),
            "Version must be",
        ),
        (
            format!(r#"{{"Id":1,"Statement":{{{ok}}}}}"#),
            "Id must be a string",
        ),
        (
            format!(r#"{{"Statements":[],"Statement":{{{ok}}}}}"#),
            "unknown policy element \"Statements\"",
        ),
        (
            r#"{"Statement":[1]}"#.into(),
            "Statement 1: must be an object",
        ),
        (
            statement(r#""Principal":"*","Action":"*""#),
            "Statement 1: Effect is missing",
        ),
        (
            statement(r#""Effect":"allow","Principal":"*","Action":"*""#),
            "Statement 1: Effect must be Allow or Deny",
        ),
        (
            format!(
                r#"{{"Statement":[{{{ok}}},{{"Sid":"Second","Effect":"Permit","Principal":"*","Action":"*"}}]}}"#
            ),
            "Statement 2 (\"Second\"): Effect must be Allow or Deny",
        ),
        (
            statement(r#""Sid":7,"Effect":"Allow","Principal":"*","Action":"*""#),
            "Sid must be a string",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":"*","Effects":"x""#),
            "unknown element \"Effects\"",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*""#),
            "Action or NotAction is required",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":"*","NotAction":"kms:Decrypt""#),
            "Action and NotAction cannot both be present",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":[]"#),
            "Action must not be empty",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":["kms:Decrypt",3]"#),
            "Action must be a string or a list of strings",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":"Decrypt""#),
            "must be \"*\" or \"service:action\"",
        ),
        (
            statement(r#""Effect":"Allow","Action":"*""#),
            "Principal or NotPrincipal is required",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"*""#),
            "Principal and NotPrincipal cannot both be present",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"alice","Action":"*""#),
            "Principal must be \"*\" or an object",
        ),
        (
            statement(r#""Effect":"Allow","Principal":{},"Action":"*""#),
            "Principal must be \"*\" or an object",
        ),
        (
            statement(r#""Effect":"Allow","Principal":{"User":"alice"},"Action":"*""#),
            "unknown principal type \"User\"",
        ),
        (
            statement(r#""Effect":"Allow","Principal":{"AWS":"alice"},"Action":"*""#),
            "AWS \"alice\" must be \"*\", an account id or an ARN",
        ),
        (
            statement(r#""Effect":"Allow","Principal":{"AWS":null},"Action":"*""#),
            "Principal AWS must be a string",
        ),
        (
            statement(
                r#""Effect":"Allow","Principal":"*","Action":"*","Resource":"*","NotResource":"*""#,
            ),
            "Resource and NotResource cannot both be present",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":"*","Resource":"bucket""#),
            "Resource \"bucket\" must be \"*\" or an ARN",
        ),
        (
            statement(r#""Effect":"Allow","Principal":"*","Action":"*","Condition":[]"#),
            "Condition must be an object",
        ),
        (
            allow_if(r#"{"StringEqualz":{"aws:username":"a"}}"#),
            "Condition operator \"StringEqualz\" is not supported",
        ),
        (
            allow_if(r#"{"NullIfExists":{"aws:username":"true"}}"#),
            "Condition operator \"NullIfExists\" is not supported",
        ),
        (
            allow_if(r#"{"ForSomeValues:StringEquals":{"aws:username":"a"}}"#),
            "is not supported",
        ),
        (
            allow_if(r#"{"StringEquals":"aws:username"}"#),
            "must map condition keys to values",
        ),
        (
            allow_if(r#"{"StringEquals":{}}"#),
            "must map condition keys to values",
        ),
        (
            allow_if(r#"{"StringEquals":{"username":"a"}}"#),
            "condition keys look like",
        ),
        (
            allow_if(r#"{"StringEquals":{"aws:username":{"a":1}}}"#),
            "Condition \"StringEquals\" \"aws:username\": values must be strings",
        ),
        (
            allow_if(r#"{"StringEquals":{"aws:username":[]}}"#),
            "at least one value",
        ),
        (
            allow_if(r#"{"StringEquals":{"aws:username":null}}"#),
            "values must be strings",
        ),
        (
            allow_if(r#"{"NumericLessThan":{"s3:max-keys":"ten"}}"#),
            "\"ten\" is not a number",
        ),
        (
            allow_if(r#"{"NumericLessThan":{"s3:max-keys":"inf"}}"#),
            "\"inf\" is not a number",
        ),
        (
            allow_if(r#"{"DateLessThan":{"aws:CurrentTime":"yesterday"}}"#),
            "\"yesterday\" is not a date",
        ),
        (
            allow_if(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#),
            "\"yes\" is not true or false",
        ),
        (
            allow_if(r#"{"Null":{"aws:username":"absent"}}"#),
            "is not true or false",
        ),
        (
            allow_if(r#"{"BinaryEquals":{"x:blob":"!!!"}}"#),
            "\"!!!\" is not base64",
        ),
        (
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#),
            "is not an IP address or CIDR block",
        ),
        (
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/+8"}}"#),
            "is not an IP address or CIDR block",
        ),
        (
            allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0/8"}}"#),
            "is not an IP address or CIDR block",
        ),
        (
            format!("[{}1{}]", "[".repeat(10_000), "]".repeat(10_000)),
            "not valid JSON",
        ),
    ];
    for (policy, expected) in &cases {
        match Policy::parse(policy) {
            Ok(_) => panic!("accepted: {policy}"),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(expected),
                    "{policy}\n  gave {message:?}\n  wanted {expected:?}"
                );
                assert!(!message.contains('\n'), "multi-line message: {message:?}");
            }
        }
    }
}

#[test]
fn long_values_are_shortened_in_messages() {
    let policy = allow_if(&format!(
        r#"{{"NumericEquals":{{"s3:max-keys":"{}"}}}}"#,
        "x".repeat(100_000)
    ));
    let message = Policy::parse(&policy)
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    assert!(
        message.contains("is not a number") && message.len() < 300,
        "{message}"
    );
}

#[test]
fn big_policies_and_pathological_patterns_stay_cheap() {
    let statements: Vec<String> = (0..5_000)
        .map(|i| format!(r#"{{"Effect":"Allow","Principal":"*","Action":"kms:Op{i}","Resource":"arn:aws:kms:*:*:key/{i}*"}}"#))
        .collect();
    let policy = format!(r#"{{"Statement":[{}]}}"#, statements.join(","));
    assert_eq!(
        decide(&policy, &req("kms:Op4999").on("arn:aws:kms:r:a:key/4999")),
        Allow
    );

    // Backtracking matchers go exponential on this; ours is quadratic at worst.
    let pattern = format!("arn:aws:s3:::{}b", "*a".repeat(200));
    let resource: &'static str = format!("arn:aws:s3:::{}", "a".repeat(5_000)).leak();
    let policy = statement(&format!(
        r#""Effect":"Allow","Principal":"*","Action":"*","Resource":"{pattern}""#
    ));
    assert_eq!(
        decide(&policy, &req("s3:GetObject").on(resource)),
        NotApplicable
    );
}

/// The obvious exponential matcher, as an oracle for `glob`.
fn reference_glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| reference_glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && reference_glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && reference_glob(rest, &text[1..]),
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let word = prop::sample::select(vec![
        "Version",
        "2012-10-17",
        "2008-10-17",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Allow",
        "Deny",
        "Principal",
        "NotPrincipal",
        "AWS",
        "Service",
        "*",
        "Action",
        "NotAction",
        "kms:*",
        "kms:Decrypt",
        "Resource",
        "NotResource",
        "arn:aws:s3:::b/*",
        "Condition",
        "StringLike",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringNotLike",
        "NumericLessThanIfExists",
        "DateGreaterThan",
        "IpAddress",
        "NotIpAddress",
        "Bool",
        "BinaryEquals",
        "Null",
        "ArnLike",
        "aws:SourceIp",
        "aws:username",
        "${aws:username}",
        "${",
        "${*}",
        "10.0.0.0/8",
        "::/0",
        "2026-01-01T00:00:00Z",
        "true",
        "QUJD",
        "arn:aws:iam::000000000000:root",
        "123456789012",
        "arn:aws:iam::000000000000:user/*",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        word.clone().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(word.clone().prop_map(String::from), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Statements whose elements are each plausible or junk, so many parse and get evaluated.
fn policy_document() -> impl Strategy<Value = Value> {
    let element = |plausible: Vec<Value>| prop_oneof![4 => prop::sample::select(plausible), 1 => json_value()];
    let condition = (
        prop::sample::select(vec![
            "StringEquals",
            "StringNotLike",
            "StringEqualsIgnoreCase",
            "NumericGreaterThan",
            "DateLessThanEquals",
            "Bool",
            "BinaryEquals",
            "IpAddress",
            "NotIpAddressIfExists",
            "ArnNotLike",
            "Null",
            "ForAllValues:StringLike",
            "ForAnyValue:NumericEquals",
        ]),
        prop::sample::select(vec![
            "aws:SourceIp",
            "aws:username",
            "aws:CurrentTime",
            "x:tags",
        ]),
        prop::sample::select(vec![
            serde_json::json!("10.0.0.0/8"),
            serde_json::json!(["a*", "${aws:username}"]),
            serde_json::json!(5),
            serde_json::json!("2026-01-01T00:00:00Z"),
            serde_json::json!(true),
            serde_json::json!("QUJD"),
            serde_json::json!("arn:aws:s3:::*"),
        ]),
    )
        .prop_map(|(op, key, value)| serde_json::json!({ op: { key: value } }));
    let statement = (
        element(vec!["Allow".into(), "Deny".into()]),
        element(vec![
            "*".into(),
            serde_json::json!({"AWS": ["123456789012", "arn:aws:iam::0:user/*"]}),
        ]),
        element(vec![
            "*".into(),
            "kms:*".into(),
            serde_json::json!(["s3:Get*", "kms:Decrypt"]),
        ]),
        element(vec!["*".into(), "arn:aws:s3:::b/${aws:username}/*".into()]),
        prop_oneof![condition.prop_map(Some), Just(None)],
        any::<bool>(),
    )
        .prop_map(|(effect, principal, action, resource, condition, negate)| {
            let mut s = serde_json::Map::new();
            s.insert("Effect".into(), effect);
            s.insert(
                if negate { "NotPrincipal" } else { "Principal" }.into(),
                principal,
            );
            s.insert(if negate { "NotAction" } else { "Action" }.into(), action);
            s.insert("Resource".into(), resource);
            if let Some(condition) = condition {
                s.insert("Condition".into(), condition);
            }
            Value::Object(s)
        });
    prop::collection::vec(statement, 1..4).prop_map(
        |statements| serde_json::json!({"Version": "2012-10-17", "Statement": statements}),
    )
}

fn evaluate_some_requests(policy: &Policy) {
    let context: BTreeMap<String, Vec<String>> = [
        ("aws:SourceIp", vec!["10.1.1.1"]),
        ("aws:username", vec!["alice"]),
        ("aws:CurrentTime", vec!["2026-02-02T00:00:00Z"]),
        ("x:tags", vec!["a", "b*", "", "\u{130}"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
    .collect();
    for (action, resource) in [
        ("kms:Decrypt", KEY),
        ("s3:GetObject", "arn:aws:s3:::b/alice/x"),
        ("", ""),
    ] {
        let request = Request {
            principal_arn: ALICE,
            account_principal: Some("123456789012"),
            action,
            resource,
            context: &context,
        };
        let _ = policy.evaluate(&request);
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_json(value in json_value()) {
        if let Ok(policy) = Policy::parse(&value.to_string()) {
            evaluate_some_requests(&policy);
        }
    }

    #[test]
    fn near_valid_policies_parse_or_fail_cleanly(value in policy_document()) {
        if let Ok(policy) = Policy::parse(&value.to_string()) {
            evaluate_some_requests(&policy);
        }
    }

    #[test]
    fn glob_agrees_with_the_reference(pattern in "[ab*?:é]{0,8}", text in "[ab:é]{0,10}") {
        let segs: Vec<Seg> = Template::parse(&pattern, Syntax::PRINCIPAL).segs;
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(glob(&segs, &text), reference_glob(&p, &t));
    }
}
