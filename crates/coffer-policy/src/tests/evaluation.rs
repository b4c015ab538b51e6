//! Principals, actions and resources; Deny over Allow; variables in resources; and big or
//! pathological policies staying cheap.

use super::*;
use Decision::{Allow, ExplicitDeny, NotApplicable};

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
        ("account policy: account admin", ACCOUNT_POLICY.into(), req("kms:Decrypt").admin_of(ACCOUNT), Allow),
        ("account policy: not an admin", ACCOUNT_POLICY.into(), req("kms:Decrypt"), NotApplicable),
        ("account policy: other account", ACCOUNT_POLICY.into(), req("kms:Decrypt").admin_of("111122223333"), NotApplicable),
        ("account policy: other service", ACCOUNT_POLICY.into(), req("s3:GetObject").admin_of(ACCOUNT), NotApplicable),
        ("action case-insensitive", ACCOUNT_POLICY.into(), req("KMS:decrypt").admin_of(ACCOUNT), Allow),
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

/// Only conditions and variables in resources read the request's context; `${` in a 2008
/// document is literal text.
#[test]
fn a_policy_says_whether_it_reads_the_context() {
    let reads = |doc: &str| Policy::parse(doc).unwrap().reads_context();
    assert!(!reads(ACCOUNT_POLICY));
    assert!(reads(&allow_if(
        r#"{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#
    )));
    let mine = r#""Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*""#;
    assert!(reads(&statement(mine)));
    assert!(!reads(&statement(mine).replace("2012-10-17", "2008-10-17")));
    let not_mine = mine.replace("\"Resource\"", "\"NotResource\"");
    assert!(reads(&statement(&not_mine)));
}
