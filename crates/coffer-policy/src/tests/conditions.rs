//! Every condition operator: how values, missing keys, multi-valued keys, set qualifiers,
//! `...IfExists` and policy variables combine.

use super::*;
use Decision::{Allow, ExplicitDeny, NotApplicable};

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
