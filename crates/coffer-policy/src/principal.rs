//! The `Principal` element: which callers a statement names, and account principals.

use serde_json::Value;

use super::arn::ARN_PARTS;
use super::glob::glob;
use super::pattern::{Syntax, Template};
use super::statement::strings;
use super::{Request, quote};

/// The callers a `Principal` (or `NotPrincipal`) element names.
#[derive(Debug, Clone, Default)]
pub(super) struct Principals {
    anyone: bool,
    accounts: Vec<String>,
    arns: Vec<Template>,
}

impl Principals {
    pub(super) fn parse(value: &Value, name: &str) -> Result<Self, String> {
        let mut principals = Self::default();
        match value {
            Value::String(s) if s == "*" => principals.anyone = true,
            Value::Object(kinds) if !kinds.is_empty() => {
                for (kind, names) in kinds {
                    // The type is checked before its names, so that only a known type (never
                    // an arbitrary key, which may hold a newline) is named unquoted below.
                    let is_aws = match kind.as_str() {
                        "AWS" => true,
                        // Services, federated identities and canonical users are never the
                        // IAM-style callers Coffer authenticates, so they match nobody.
                        "Service" | "Federated" | "CanonicalUser" => false,
                        _ => {
                            return Err(format!(
                                "{name} has unknown principal type {}",
                                quote(kind)
                            ));
                        }
                    };
                    let names = strings(names, &format!("{name} {kind}"))?;
                    if is_aws {
                        for arn in names {
                            principals.add_aws(arn, name)?;
                        }
                    }
                }
            }
            _ => {
                return Err(format!(
                    "{name} must be \"*\" or an object such as {{\"AWS\": ...}}"
                ));
            }
        }
        Ok(principals)
    }

    fn add_aws(&mut self, principal: &str, name: &str) -> Result<(), String> {
        if principal == "*" {
            self.anyone = true;
        } else if let Some(account) = account_principal(principal) {
            self.accounts.push(account.to_owned());
        } else if principal.starts_with("arn:") {
            self.arns
                .push(Template::parse(principal, Syntax::PRINCIPAL));
        } else {
            return Err(format!(
                "{name} AWS {} must be \"*\", an account id or an ARN",
                quote(principal)
            ));
        }
        Ok(())
    }

    pub(super) fn include(&self, request: &Request<'_>) -> bool {
        self.anyone
            || request
                .account_principal
                .is_some_and(|account| self.accounts.iter().any(|a| a == account))
            || self
                .arns
                .iter()
                .any(|p| glob(&p.segs, request.principal_arn))
    }
}

/// The account id named by `"123456789012"` or `"arn:<partition>:iam::123456789012:root"`.
fn account_principal(principal: &str) -> Option<&str> {
    let is_account_id = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if is_account_id(principal) {
        return Some(principal);
    }
    let mut parts = principal.splitn(ARN_PARTS, ':');
    let shape = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    );
    match shape {
        (Some("arn"), Some(_), Some("iam"), Some(""), Some(account), Some("root"))
            if is_account_id(account) =>
        {
            Some(account)
        }
        _ => None,
    }
}
