//! Cost of a bucket-policy decision per request, with a 20-statement policy of the kinds
//! operators write (encryption requirements, per-user prefixes, TLS, source networks, dates),
//! evaluated for a request that matches late (most statements are examined); and what a
//! request pays instead of the parse when the policy is in a `PolicyCache` (a hit).
//!
//! `cargo bench -p coffer-policy --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::hint::black_box;

use coffer_policy::{Decision, Policy, PolicyCache, Request};
use criterion::{Criterion, criterion_group, criterion_main};

fn twenty_statements() -> String {
    let mut statements = Vec::new();
    for i in 0..16 {
        statements.push(format!(
            r#"{{"Sid":"user{i}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/u{i}"}},
               "Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::data/home/u{i}/*",
               "Condition":{{"IpAddress":{{"aws:SourceIp":["10.{i}.0.0/16","192.168.{i}.0/24"]}},
                             "DateLessThan":{{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}}}"#
        ));
    }
    statements.push(r#"{"Sid":"DenyUnencrypted","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::data/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}"#.to_owned());
    statements.push(r#"{"Sid":"RequireKms","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::data/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}}"#.to_owned());
    statements.push(r#"{"Sid":"RequireKey","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::data/*","Condition":{"ArnNotEqualsIfExists":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}}"#.to_owned());
    statements.push(r#"{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::data","arn:aws:s3:::data/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#.to_owned());
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn bench(c: &mut Criterion) {
    let text = twenty_statements();
    let policy = Policy::parse(&text).expect("the bench policy parses");
    let context: BTreeMap<String, Vec<String>> = [
        ("s3:x-amz-server-side-encryption", "aws:kms"),
        (
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("aws:securetransport", "true"),
        ("aws:sourceip", "10.15.3.4"),
        ("aws:currenttime", "2026-11-27T12:00:00Z"),
        ("aws:username", "u15"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
    .collect();
    let request = Request {
        principal_arn: "arn:aws:iam::000000000000:user/u15",
        account_principal: Some("000000000000"),
        action: "s3:PutObject",
        resource: "arn:aws:s3:::data/home/u15/report.csv",
        context: &context,
    };
    assert_eq!(policy.evaluate(&request), Decision::Allow);
    let mut g = c.benchmark_group("bucket_policy_20_statements");
    g.bench_function("evaluate", |b| {
        b.iter(|| black_box(policy.evaluate(black_box(&request))))
    });
    g.bench_function("parse", |b| {
        b.iter(|| black_box(Policy::parse(black_box(&text)).unwrap()))
    });
    let cache = PolicyCache::new();
    g.bench_function("cache_hit", |b| {
        b.iter(|| black_box(cache.get(black_box(&text)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
