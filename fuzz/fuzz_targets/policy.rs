//! The IAM policy language (KMS key policies, S3 bucket policies): a document, then a request,
//! separated by a NUL byte. Parsing must never panic and report errors on one line; a parsed
//! policy must decide the same request the same way every time, and the same way after its
//! JSON is re-serialised (compact and pretty), since whitespace and formatting carry no meaning.
#![no_main]

use std::collections::BTreeMap;

use coffer_policy::{Policy, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let Some(Ok(document)) = fields.next().map(std::str::from_utf8) else {
        return;
    };
    let policy = match Policy::parse(document) {
        Ok(policy) => policy,
        Err(e) => {
            assert!(!e.0.contains('\n'), "a multi-line policy error: {e:?}");
            return;
        }
    };

    // The request: principal, action, resource, then condition key/value pairs.
    let mut text = fields.map(|f| String::from_utf8_lossy(f).into_owned());
    let principal = text.next().unwrap_or_default();
    let action = text.next().unwrap_or_default();
    let resource = text.next().unwrap_or_default();
    let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while let (Some(k), Some(v)) = (text.next(), text.next()) {
        context.entry(k).or_default().push(v);
    }
    let request = Request {
        principal_arn: &principal,
        account_principal: principal
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next()),
        action: &action,
        resource: &resource,
        context: &context,
    };

    let decision = policy.evaluate(&request);
    assert_eq!(
        policy.evaluate(&request),
        decision,
        "evaluation is not deterministic"
    );

    let value: serde_json::Value =
        serde_json::from_str(document).expect("a policy that parsed is JSON");
    for reserialised in [
        serde_json::to_string(&value).unwrap(),
        serde_json::to_string_pretty(&value).unwrap(),
    ] {
        let again = Policy::parse(&reserialised).expect("a re-serialised policy no longer parses");
        assert_eq!(
            again.evaluate(&request),
            decision,
            "re-serialising the policy changed its decision"
        );
    }
});
