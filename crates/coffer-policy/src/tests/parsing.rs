//! Malformed documents: each is rejected with a one-line message that says what and where.

use super::*;

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
        // Found by the `policy` fuzz target: an unknown type whose names are malformed was
        // named raw, newline and all, in the names' shape error.
        (
            statement(r#""Effect":"Allow","Principal":{"A\nB":{}},"Action":"*""#),
            "unknown principal type \"A\\nB\"",
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
