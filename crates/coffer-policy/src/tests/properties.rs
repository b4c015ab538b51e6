//! Property tests: parsing and evaluating arbitrary or near-valid documents never panics, and
//! the wildcard matcher agrees with an obvious (exponential) reference.

use super::*;
use crate::glob::glob;
use crate::pattern::{Seg, Syntax, Template};
use proptest::prelude::*;
use serde_json::Value;

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
        let decision = policy.evaluate(&request);
        // A policy that says it reads no context decides the same without one.
        if !policy.reads_context() {
            let empty = BTreeMap::new();
            let bare = Request {
                context: &empty,
                ..request
            };
            assert_eq!(policy.evaluate(&bare), decision, "{policy:?}");
        }
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
