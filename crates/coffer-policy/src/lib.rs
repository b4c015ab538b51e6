//! The IAM policy language: parse a policy document once, then evaluate requests against it.
//!
//! Coffer writes two kinds of policy in it: KMS key policies (coffer-kms) and S3 bucket
//! policies (coffer-s3). Both are *resource* policies, so every statement must name a
//! `Principal` or `NotPrincipal` (AWS rejects statements without one in both services).
//! Evaluation is AWS's: a matching `Deny` wins, otherwise a matching `Allow` allows, otherwise
//! the policy has nothing to say ([`Decision::NotApplicable`]) and the caller falls back to
//! owner rights or denies.
//!
//! The language is service-neutral: it knows no action, resource or condition key of either
//! service. What a caller's request puts in [`Request`] (which condition keys, which account
//! principal), what a default policy says, and how large a document may be are the services'
//! business. [`PolicyCache`] keeps parsed policies by their text, so a request does not parse
//! its key's or bucket's policy again.
//!
//! Everything a document can get wrong is reported by [`Policy::parse`] as a one-line
//! [`PolicyError`] (it becomes S3's `MalformedPolicy` or KMS's
//! `MalformedPolicyDocumentException`), so evaluation never has to cope with a bad policy and
//! never fails. Size limits are the caller's business; parsing is linear in the input and
//! serde_json's recursion limit bounds nesting.
//!
//! Semantics worth knowing (each follows the AWS documentation unless it says otherwise):
//! - A statement without `Resource` or `NotResource` covers every resource, as a KMS key policy
//!   statement does (the policy is attached to one key, so there is nothing else to name). A
//!   caller that wants `Resource` required or restricted checks that itself.
//! - Actions match case-insensitively; resources, principals and ARNs case-sensitively. `*` and
//!   `?` are wildcards in all of them. `Principal` ARN wildcards are a Coffer extension: AWS only
//!   accepts a bare `"*"` there.
//! - An account principal (`"123456789012"` or `"arn:aws:iam::123456789012:root"`) matches
//!   exactly when [`Request::account_principal`] names that account.
//! - Conditions: the values listed under one key are ORed, keys under one operator and operators
//!   in one block are ANDed. When the key is missing from the request, a positive operator is
//!   false, a negated one (`StringNotEquals`, `NotIpAddress`, ...) true, `...IfExists` true,
//!   `ForAllValues:` true and `ForAnyValue:` false. A multi-valued key without a set qualifier
//!   satisfies a positive operator when any of its values does, and a negated operator when none
//!   of its values matches.
//! - A request value that cannot be read as the operator's type (a number, a date, an IP address,
//!   a boolean, base64) matches no policy value, so a negated operator holds for it.
//! - `ArnEquals` and `ArnLike` are the same operator (AWS gives both wildcards) and match each of
//!   the first five colon-separated ARN parts separately, so a `*` cannot swallow a `:` there.
//!   A pattern with fewer than six parts is matched against the whole value instead.
//! - Policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`, with an optional default
//!   as in `${aws:username, 'anonymous'}`) are read from the request context and only in
//!   `Version: "2012-10-17"` documents, in `Resource`/`NotResource` and in String and ARN
//!   condition values. `${*}`, `${?}` and `${$}` stand for the literal characters. A substituted
//!   value is literal text, never a wildcard. A variable whose key is missing (with no default)
//!   or multi-valued matches nothing, and makes a negated element (`NotResource`, negated
//!   operators) fail too, so a missing variable never widens what a statement covers.

#![forbid(unsafe_code)]

mod arn;
mod cache;
mod condition;
mod context;
mod glob;
mod operator;
mod pattern;
mod principal;
mod scalar;
mod statement;
#[cfg(test)]
mod tests;
mod variables;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

pub use cache::PolicyCache;
use context::Context;
use pattern::fold_case;
use statement::{Effect, Statement};

/// Why a policy document was rejected, as one line that says what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// The outcome of evaluating one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    /// No statement matched; the caller applies owner rights or denies.
    NotApplicable,
}

/// What a caller wants to do, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller, e.g. `"arn:aws:iam::000000000000:user/alice"`.
    pub principal_arn: &'a str,
    /// The account whose account principal (`"123456789012"` or
    /// `"arn:aws:iam::123456789012:root"`) names this caller, `None` if none does.
    ///
    /// The caller decides what that means; KMS key policies and S3 bucket policies both name
    /// the account's admin users with it.
    pub account_principal: Option<&'a str>,
    /// E.g. `"kms:Decrypt"` or `"s3:PutObject"`; matched case-insensitively.
    pub action: &'a str,
    /// E.g. a key ARN or `"arn:aws:s3:::bucket/key"`.
    pub resource: &'a str,
    /// Condition keys (names match case-insensitively, e.g. `"aws:SourceIp"`,
    /// `"kms:EncryptionContext:aws:s3:arn"`), each with its values: multi-valued keys have
    /// several, absent keys are simply missing (an empty list counts as missing).
    pub context: &'a BTreeMap<String, Vec<String>>,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses and validates a policy document.
    pub fn parse(json: &str) -> Result<Self, PolicyError> {
        let document: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError(format!("policy is not valid JSON: {e}")))?;
        let Value::Object(top) = &document else {
            return Err(PolicyError("policy must be a JSON object".into()));
        };
        if let Some(key) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
        {
            return Err(PolicyError(format!(
                "unknown policy element {}",
                quote(key)
            )));
        }
        // Policy variables arrived with the 2012-10-17 language; older documents mean `${` literally.
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(_) => {
                return Err(PolicyError(
                    "Version must be \"2012-10-17\" or \"2008-10-17\"".into(),
                ));
            }
        };
        if top.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(PolicyError("Id must be a string".into()));
        }
        let statements = match top.get("Statement") {
            None => return Err(PolicyError("Statement is missing".into())),
            Some(single @ Value::Object(_)) => std::slice::from_ref(single),
            Some(Value::Array(list)) if list.is_empty() => {
                return Err(PolicyError("Statement must not be empty".into()));
            }
            Some(Value::Array(list)) => list.as_slice(),
            Some(_) => {
                return Err(PolicyError(
                    "Statement must be an object or a list of objects".into(),
                ));
            }
        };
        let statements = statements
            .iter()
            .enumerate()
            .map(|(i, value)| {
                Statement::parse(value, variables).map_err(|msg| {
                    let sid = value.get("Sid").and_then(Value::as_str);
                    match sid {
                        Some(sid) => {
                            PolicyError(format!("Statement {} ({}): {msg}", i + 1, quote(sid)))
                        }
                        None => PolicyError(format!("Statement {}: {msg}", i + 1)),
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// Whether [`Policy::evaluate`] can read the request's context at all (a condition, or a
    /// policy variable in a resource). When it cannot, a caller may pass an empty context
    /// rather than build one for every request.
    pub fn reads_context(&self) -> bool {
        self.statements.iter().any(Statement::reads_context)
    }

    /// Evaluates a request: any matching `Deny` wins, then any matching `Allow`.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let action = fold_case(request.action);
        let context = Context(request.context);
        let mut allowed = false;
        for statement in &self.statements {
            // Once allowed, only a Deny can change the answer.
            if allowed && statement.effect == Effect::Allow {
                continue;
            }
            if statement.applies(request, &action, context) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }
}

/// A user-supplied string for an error message: quoted, escaped, and kept short.
fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}
