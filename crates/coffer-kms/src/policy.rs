//! The IAM policy language: parse a policy document once, then evaluate requests against it.
//!
//! KMS key policies use it now and S3 bucket policies will later. Both are *resource* policies,
//! so every statement must name a `Principal` or `NotPrincipal` (AWS rejects statements without
//! one in both services). Evaluation is AWS's: a matching `Deny` wins, otherwise a matching
//! `Allow` allows, otherwise the policy has nothing to say ([`Decision::NotApplicable`]) and the
//! caller falls back to owner rights or denies.
//!
//! Everything a document can get wrong is reported by [`Policy::parse`] as a one-line
//! [`PolicyError`] (it becomes S3's `MalformedPolicy` or KMS's
//! `MalformedPolicyDocumentException`), so evaluation never has to cope with a bad policy and
//! never fails. Size limits are the caller's business; parsing is linear in the input and
//! serde_json's recursion limit bounds nesting.
//!
//! Semantics worth knowing (each follows the AWS documentation unless it says otherwise):
//! - A statement without `Resource` or `NotResource` covers every resource, as a KMS key policy
//!   statement does (the policy is attached to one key, so there is nothing else to name).
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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

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
    /// The caller decides what that means: for KMS key policies the caller is an admin user of
    /// that account; for S3, any user of the account.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// An element and its `Not...` twin: `Only` covers what is listed, `Except` everything else.
#[derive(Debug, Clone)]
enum Scope<T> {
    Only(T),
    Except(T),
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principals: Scope<Principals>,
    /// Lower-cased patterns, matched against the lower-cased request action.
    actions: Scope<Vec<Template>>,
    /// `None`: the statement names no resource and so covers all of them.
    resources: Option<Scope<Vec<Template>>>,
    conditions: Vec<Condition>,
}

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Statement {
    fn parse(value: &Value, variables: bool) -> Result<Self, String> {
        let Value::Object(element) = value else {
            return Err("must be an object".into());
        };
        if let Some(key) = element
            .keys()
            .find(|k| !STATEMENT_ELEMENTS.contains(&k.as_str()))
        {
            return Err(format!("unknown element {}", quote(key)));
        }
        if element.get("Sid").is_some_and(|sid| !sid.is_string()) {
            return Err("Sid must be a string".into());
        }
        let effect = match element.get("Effect") {
            None => return Err("Effect is missing".into()),
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(_) => return Err("Effect must be Allow or Deny".into()),
        };

        let principals = match pair(element, "Principal", "NotPrincipal")? {
            None => return Err("Principal or NotPrincipal is required".into()),
            Some(Scope::Only(v)) => Scope::Only(Principals::parse(v, "Principal")?),
            Some(Scope::Except(v)) => Scope::Except(Principals::parse(v, "NotPrincipal")?),
        };

        let action_patterns = |value: &Value, name: &str| -> Result<Vec<Template>, String> {
            strings(value, name)?
                .into_iter()
                .map(|action| {
                    // AWS insists on a service prefix: a bare "Decrypt" is a typo, not a wildcard.
                    let valid = action == "*"
                        || action
                            .split_once(':')
                            .is_some_and(|(service, _)| !service.is_empty());
                    if valid {
                        Ok(Template::parse(action, Syntax::ACTION))
                    } else {
                        Err(format!(
                            "{name} {} must be \"*\" or \"service:action\"",
                            quote(action)
                        ))
                    }
                })
                .collect()
        };
        let actions = match pair(element, "Action", "NotAction")? {
            None => return Err("Action or NotAction is required".into()),
            Some(Scope::Only(v)) => Scope::Only(action_patterns(v, "Action")?),
            Some(Scope::Except(v)) => Scope::Except(action_patterns(v, "NotAction")?),
        };

        let resource_syntax = Syntax {
            wildcards: true,
            variables,
            lowercase: false,
        };
        let resource_patterns = |value: &Value, name: &str| -> Result<Vec<Template>, String> {
            strings(value, name)?
                .into_iter()
                .map(|resource| {
                    if resource == "*" || resource.starts_with("arn:") {
                        Ok(Template::parse(resource, resource_syntax))
                    } else {
                        Err(format!(
                            "{name} {} must be \"*\" or an ARN",
                            quote(resource)
                        ))
                    }
                })
                .collect()
        };
        let resources = match pair(element, "Resource", "NotResource")? {
            None => None,
            Some(Scope::Only(v)) => Some(Scope::Only(resource_patterns(v, "Resource")?)),
            Some(Scope::Except(v)) => Some(Scope::Except(resource_patterns(v, "NotResource")?)),
        };

        let conditions = match element.get("Condition") {
            None => Vec::new(),
            Some(block) => Condition::parse_block(block, variables)?,
        };

        Ok(Self {
            effect,
            principals,
            actions,
            resources,
            conditions,
        })
    }

    fn applies(&self, request: &Request<'_>, action: &str, context: Context<'_>) -> bool {
        let action_listed = |patterns: &[Template]| patterns.iter().any(|p| glob(&p.segs, action));
        let action_covered = match &self.actions {
            Scope::Only(patterns) => action_listed(patterns),
            Scope::Except(patterns) => !action_listed(patterns),
        };
        if !action_covered {
            return false;
        }
        let principal_covered = match &self.principals {
            Scope::Only(principals) => principals.include(request),
            Scope::Except(principals) => !principals.include(request),
        };
        if !principal_covered {
            return false;
        }
        let resource_covered = match &self.resources {
            None => true,
            Some(Scope::Only(patterns)) => {
                any_resolved(patterns, context, false, |p| glob(p, request.resource)) == Some(true)
            }
            // Some(false): every pattern resolved and none matched.
            Some(Scope::Except(patterns)) => {
                any_resolved(patterns, context, false, |p| glob(p, request.resource)) == Some(false)
            }
        };
        resource_covered && self.conditions.iter().all(|c| c.holds(context))
    }
}

/// Reads an element that has a `Not...` twin; at most one of the two may be present.
fn pair<'v>(
    element: &'v Map<String, Value>,
    name: &str,
    not_name: &str,
) -> Result<Option<Scope<&'v Value>>, String> {
    match (element.get(name), element.get(not_name)) {
        (Some(_), Some(_)) => Err(format!("{name} and {not_name} cannot both be present")),
        (Some(v), None) => Ok(Some(Scope::Only(v))),
        (None, Some(v)) => Ok(Some(Scope::Except(v))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty list of strings, the shape of most policy elements.
fn strings<'v>(value: &'v Value, name: &str) -> Result<Vec<&'v str>, String> {
    let shape_error = || format!("{name} must be a string or a list of strings");
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        // An empty `NotAction` would silently cover everything; AWS rejects empty lists too.
        Value::Array(items) if items.is_empty() => Err(format!("{name} must not be empty")),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(shape_error))
            .collect(),
        _ => Err(shape_error()),
    }
}

/// The callers a `Principal` (or `NotPrincipal`) element names.
#[derive(Debug, Clone, Default)]
struct Principals {
    anyone: bool,
    accounts: Vec<String>,
    arns: Vec<Template>,
}

impl Principals {
    fn parse(value: &Value, name: &str) -> Result<Self, String> {
        let mut principals = Self::default();
        match value {
            Value::String(s) if s == "*" => principals.anyone = true,
            Value::Object(kinds) if !kinds.is_empty() => {
                for (kind, names) in kinds {
                    let names = strings(names, &format!("{name} {kind}"))?;
                    match kind.as_str() {
                        "AWS" => {
                            for arn in names {
                                principals.add_aws(arn, name)?;
                            }
                        }
                        // Services, federated identities and canonical users are never the
                        // IAM-style callers Coffer authenticates, so they match nobody.
                        "Service" | "Federated" | "CanonicalUser" => {}
                        _ => {
                            return Err(format!(
                                "{name} has unknown principal type {}",
                                quote(kind)
                            ));
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

    fn include(&self, request: &Request<'_>) -> bool {
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

/// One key test from a `Condition` block, e.g. `"StringEquals": {"aws:username": "alice"}`.
#[derive(Debug, Clone)]
struct Condition {
    /// Lower-cased, because condition key names are case-insensitive.
    key: String,
    test: Test,
    negated: bool,
    if_exists: bool,
    quantifier: Quantifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    /// No set prefix.
    Single,
    ForAllValues,
    ForAnyValue,
}

/// The operator family and the policy's values, already parsed into the type they compare as.
#[derive(Debug, Clone)]
enum Test {
    /// `StringEquals`, `StringLike` (patterns with wildcards) and the `IgnoreCase` pair (`fold`:
    /// patterns are lower-case and the request value is lower-cased before comparing).
    Text {
        patterns: Vec<Template>,
        fold: bool,
    },
    Arn(Vec<Template>),
    Numeric(Comparison, Vec<f64>),
    Date(Comparison, Vec<OffsetDateTime>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    /// `true`: the key must be absent; `false`: present.
    Null(Vec<bool>),
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    fn holds<T: PartialOrd>(self, actual: &T, expected: &T) -> bool {
        actual
            .partial_cmp(expected)
            .is_some_and(|order| match self {
                Self::Equal => order.is_eq(),
                Self::Less => order.is_lt(),
                Self::LessOrEqual => order.is_le(),
                Self::Greater => order.is_gt(),
                Self::GreaterOrEqual => order.is_ge(),
            })
    }
}

#[derive(Debug, Clone, Copy)]
enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Comparison),
    Date(Comparison),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// A condition operator name, taken apart.
#[derive(Debug, Clone, Copy)]
struct Operator {
    family: Family,
    negated: bool,
    if_exists: bool,
    quantifier: Quantifier,
}

impl Operator {
    /// Operator names are matched case-insensitively; AWS's own spelling is the camel case.
    fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let (quantifier, rest) = if let Some(rest) = lower.strip_prefix("forallvalues:") {
            (Quantifier::ForAllValues, rest)
        } else if let Some(rest) = lower.strip_prefix("foranyvalue:") {
            (Quantifier::ForAnyValue, rest)
        } else {
            (Quantifier::Single, lower.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("ifexists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        use Comparison::*;
        let (family, negated) = match base {
            "stringequals" => (Family::StringEquals, false),
            "stringnotequals" => (Family::StringEquals, true),
            "stringequalsignorecase" => (Family::StringEqualsIgnoreCase, false),
            "stringnotequalsignorecase" => (Family::StringEqualsIgnoreCase, true),
            "stringlike" => (Family::StringLike, false),
            "stringnotlike" => (Family::StringLike, true),
            "numericequals" => (Family::Numeric(Equal), false),
            "numericnotequals" => (Family::Numeric(Equal), true),
            "numericlessthan" => (Family::Numeric(Less), false),
            "numericlessthanequals" => (Family::Numeric(LessOrEqual), false),
            "numericgreaterthan" => (Family::Numeric(Greater), false),
            "numericgreaterthanequals" => (Family::Numeric(GreaterOrEqual), false),
            "dateequals" => (Family::Date(Equal), false),
            "datenotequals" => (Family::Date(Equal), true),
            "datelessthan" => (Family::Date(Less), false),
            "datelessthanequals" => (Family::Date(LessOrEqual), false),
            "dategreaterthan" => (Family::Date(Greater), false),
            "dategreaterthanequals" => (Family::Date(GreaterOrEqual), false),
            "bool" => (Family::Bool, false),
            "binaryequals" => (Family::Binary, false),
            "ipaddress" => (Family::Ip, false),
            "notipaddress" => (Family::Ip, true),
            "arnequals" | "arnlike" => (Family::Arn, false),
            "arnnotequals" | "arnnotlike" => (Family::Arn, true),
            // Null is itself a presence test: IfExists or a set prefix would make it meaningless.
            "null" if !if_exists && quantifier == Quantifier::Single => (Family::Null, false),
            _ => return None,
        };
        Some(Self {
            family,
            negated,
            if_exists,
            quantifier,
        })
    }
}

impl Condition {
    fn parse_block(block: &Value, variables: bool) -> Result<Vec<Self>, String> {
        let Value::Object(operators) = block else {
            return Err("Condition must be an object".into());
        };
        let mut conditions = Vec::new();
        for (op_name, keys) in operators {
            let operator = Operator::parse(op_name)
                .ok_or_else(|| format!("Condition operator {} is not supported", quote(op_name)))?;
            let keys = match keys {
                Value::Object(keys) if !keys.is_empty() => keys,
                _ => {
                    return Err(format!(
                        "Condition {} must map condition keys to values",
                        quote(op_name)
                    ));
                }
            };
            for (key, raw) in keys {
                let at = || format!("Condition {} {}", quote(op_name), quote(key));
                if !key.contains(':') || key.starts_with(':') {
                    return Err(format!(
                        "{}: condition keys look like \"service:name\"",
                        at()
                    ));
                }
                let values = condition_values(raw).map_err(|e| format!("{}: {e}", at()))?;
                let test = Test::parse(operator.family, &values, variables)
                    .map_err(|e| format!("{}: {e}", at()))?;
                conditions.push(Self {
                    key: key.to_ascii_lowercase(),
                    test,
                    negated: operator.negated,
                    if_exists: operator.if_exists,
                    quantifier: operator.quantifier,
                });
            }
        }
        Ok(conditions)
    }

    fn holds(&self, context: Context<'_>) -> bool {
        let actual = context.values(&self.key);
        if let Test::Null(expect_absent) = &self.test {
            return expect_absent.contains(&actual.is_none());
        }
        let Some(actual) = actual else {
            return self.if_exists
                || match self.quantifier {
                    // "Does not equal any listed value" is true of a value that is not there.
                    Quantifier::Single => self.negated,
                    // Vacuously true: every one of no values matches.
                    Quantifier::ForAllValues => true,
                    Quantifier::ForAnyValue => false,
                };
        };
        // `matches` is None when a policy variable could not be resolved: never satisfied.
        let satisfies = |value: &String| {
            self.test
                .matches(value, context)
                .is_some_and(|matched| matched != self.negated)
        };
        match self.quantifier {
            Quantifier::ForAllValues => actual.iter().all(satisfies),
            Quantifier::ForAnyValue => actual.iter().any(satisfies),
            // Negated operators mean "matches none of the values", so every request value must
            // stay clear of them; a positive operator needs just one request value to match.
            Quantifier::Single if self.negated => actual.iter().all(satisfies),
            Quantifier::Single => actual.iter().any(satisfies),
        }
    }
}

/// A condition key's value or list of values, as text (JSON numbers and booleans included).
fn condition_values(raw: &Value) -> Result<Vec<String>, String> {
    let scalar = |value: &Value| match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("values must be strings, numbers or booleans".to_owned()),
    };
    match raw {
        Value::Array(items) if items.is_empty() => Err("must list at least one value".into()),
        Value::Array(items) => items.iter().map(scalar).collect(),
        single => scalar(single).map(|s| vec![s]),
    }
}

impl Test {
    fn parse(family: Family, values: &[String], variables: bool) -> Result<Self, String> {
        let templates = |wildcards: bool, lowercase: bool| {
            let syntax = Syntax {
                wildcards,
                variables,
                lowercase,
            };
            values.iter().map(|v| Template::parse(v, syntax)).collect()
        };
        Ok(match family {
            Family::StringEquals => Self::Text {
                patterns: templates(false, false),
                fold: false,
            },
            Family::StringEqualsIgnoreCase => Self::Text {
                patterns: templates(false, true),
                fold: true,
            },
            Family::StringLike => Self::Text {
                patterns: templates(true, false),
                fold: false,
            },
            Family::Arn => Self::Arn(templates(true, false)),
            Family::Numeric(cmp) => {
                Self::Numeric(cmp, parse_all(values, "a number", parse_number)?)
            }
            Family::Date(cmp) => Self::Date(
                cmp,
                parse_all(values, "a date (ISO 8601 or epoch seconds)", parse_date)?,
            ),
            Family::Bool => Self::Bool(parse_all(values, "true or false", parse_bool)?),
            Family::Binary => Self::Binary(parse_all(values, "base64", |v| B64.decode(v).ok())?),
            Family::Ip => Self::Ip(parse_all(
                values,
                "an IP address or CIDR block",
                Cidr::parse,
            )?),
            Family::Null => Self::Null(parse_all(values, "true or false", parse_bool)?),
        })
    }

    /// Whether one request value matches any of the policy's values; `None` when none matched
    /// but some could not be resolved (a policy variable missing from the request).
    fn matches(&self, actual: &str, context: Context<'_>) -> Option<bool> {
        Some(match self {
            Self::Text { patterns, fold } => {
                let actual = if *fold {
                    Cow::Owned(fold_case(actual))
                } else {
                    Cow::Borrowed(actual)
                };
                return any_resolved(patterns, context, *fold, |p| glob(p, &actual));
            }
            Self::Arn(patterns) => {
                return any_resolved(patterns, context, false, |p| arn_matches(p, actual));
            }
            Self::Numeric(cmp, expected) => {
                parse_number(actual).is_some_and(|a| expected.iter().any(|e| cmp.holds(&a, e)))
            }
            Self::Date(cmp, expected) => {
                parse_date(actual).is_some_and(|a| expected.iter().any(|e| cmp.holds(&a, e)))
            }
            Self::Bool(expected) => parse_bool(actual).is_some_and(|a| expected.contains(&a)),
            Self::Binary(expected) => B64.decode(actual).is_ok_and(|a| expected.contains(&a)),
            Self::Ip(expected) => actual
                .parse::<IpAddr>()
                .is_ok_and(|a| expected.iter().any(|net| net.contains(a))),
            // Decided by presence alone, in `Condition::holds`.
            Self::Null(_) => false,
        })
    }
}

fn parse_all<T>(
    values: &[String],
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String> {
    values
        .iter()
        .map(|v| parse(v).ok_or_else(|| format!("{} is not {what}", quote(v))))
        .collect()
}

fn parse_number(text: &str) -> Option<f64> {
    // f64's parser also takes "inf" and "NaN", which no policy means.
    let numeric = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    text.parse::<f64>()
        .ok()
        .filter(|n| numeric && n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// RFC 3339 / ISO 8601 (a date and time without an offset is UTC, a bare date is midnight UTC)
/// or epoch seconds, the two forms `aws:CurrentTime` and `aws:EpochTime` come in.
fn parse_date(text: &str) -> Option<OffsetDateTime> {
    if let Ok(seconds) = text.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(seconds).ok();
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(at);
    }
    let local = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(at) = PrimitiveDateTime::parse(text, local) {
        return Some(at.assume_utc());
    }
    let day = format_description!("[year]-[month]-[day]");
    Date::parse(text, day)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

/// An IPv4 or IPv6 network; a bare address is a single-host network.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&n| n <= max)?
            }
            Some(_) => return None,
        };
        Some(Self { network, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u32::from(net) ^ u32::from(addr)) & mask == 0
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u128::from(net) ^ u128::from(addr)) & mask == 0
            }
            _ => false,
        }
    }
}

/// Condition keys are case-insensitive, so lookups fall back to a case-insensitive scan when the
/// caller's spelling differs from the policy's.
#[derive(Debug, Clone, Copy)]
struct Context<'a>(&'a BTreeMap<String, Vec<String>>);

impl<'a> Context<'a> {
    /// The key's values, `None` if it is missing or has none. `key` is lower-case.
    fn values(self, key: &str) -> Option<&'a [String]> {
        self.0
            .get(key)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }

    /// A policy variable's value. A multi-valued key has no single value to substitute.
    fn variable<'v>(self, variable: &'v Variable) -> Option<&'v str>
    where
        'a: 'v,
    {
        match self.values(&variable.key) {
            Some([only]) => Some(only),
            Some(_) => None,
            None => variable.default.as_deref(),
        }
    }
}

/// A policy string taken apart into literal text, wildcards and policy variables.
#[derive(Debug, Clone)]
struct Template {
    segs: Vec<Seg>,
    has_variables: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    AnyChar,
    Var(Variable),
}

#[derive(Debug, Clone, PartialEq)]
struct Variable {
    /// Lower-cased, like condition keys.
    key: String,
    default: Option<String>,
}

/// What is special in a policy string depends on where it appears.
#[derive(Debug, Clone, Copy)]
struct Syntax {
    wildcards: bool,
    variables: bool,
    lowercase: bool,
}

impl Syntax {
    const ACTION: Self = Self {
        wildcards: true,
        variables: false,
        lowercase: true,
    };
    const PRINCIPAL: Self = Self {
        wildcards: true,
        variables: false,
        lowercase: false,
    };
}

impl Template {
    fn parse(text: &str, syntax: Syntax) -> Self {
        let mut segs = Vec::new();
        let mut literal = String::new();
        let mut has_variables = false;
        let flush = |literal: &mut String, segs: &mut Vec<Seg>| {
            if !literal.is_empty() {
                segs.push(Seg::Lit(std::mem::take(literal)));
            }
        };
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables && rest.starts_with("${") {
                // An unterminated `${` is plain text.
                if let Some(end) = rest.find('}') {
                    let inner = rest.get(2..end).unwrap_or_default().trim();
                    rest = rest.get(end + 1..).unwrap_or_default();
                    if matches!(inner, "*" | "?" | "$") {
                        literal.push_str(inner);
                    } else {
                        flush(&mut literal, &mut segs);
                        segs.push(Seg::Var(Variable::parse(inner)));
                        has_variables = true;
                    }
                    continue;
                }
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut literal, &mut segs);
                    // `**` means what `*` does; collapsing keeps matching cheap.
                    if segs.last() != Some(&Seg::Star) {
                        segs.push(Seg::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut literal, &mut segs);
                    segs.push(Seg::AnyChar);
                }
                _ if syntax.lowercase => literal.extend(c.to_lowercase()),
                _ => literal.push(c),
            }
        }
        flush(&mut literal, &mut segs);
        Self {
            segs,
            has_variables,
        }
    }

    /// The template with its variables substituted (lower-cased when `fold`), or `None` if one
    /// cannot be resolved.
    fn resolve(&self, context: Context<'_>, fold: bool) -> Option<Cow<'_, [Seg]>> {
        if !self.has_variables {
            return Some(Cow::Borrowed(&self.segs));
        }
        self.segs
            .iter()
            .map(|seg| match seg {
                Seg::Var(variable) => context.variable(variable).map(|value| {
                    Seg::Lit(if fold {
                        fold_case(value)
                    } else {
                        value.to_owned()
                    })
                }),
                other => Some(other.clone()),
            })
            .collect::<Option<Vec<_>>>()
            .map(Cow::Owned)
    }
}

impl Variable {
    /// `name` or `name, 'default'`.
    fn parse(inner: &str) -> Self {
        let with_default = inner.split_once(',').and_then(|(name, default)| {
            let default = default.trim().strip_prefix('\'')?.strip_suffix('\'')?;
            Some((name.trim(), default))
        });
        match with_default {
            Some((name, default)) => Self {
                key: name.to_ascii_lowercase(),
                default: Some(default.to_owned()),
            },
            // Anything else is a name; an odd one simply never resolves.
            None => Self {
                key: inner.to_ascii_lowercase(),
                default: None,
            },
        }
    }
}

/// Runs `is_match` on each template: `Some(true)` if one matched, `Some(false)` if all resolved
/// and none matched, `None` if none matched and some could not be resolved.
fn any_resolved(
    templates: &[Template],
    context: Context<'_>,
    fold: bool,
    is_match: impl Fn(&[Seg]) -> bool,
) -> Option<bool> {
    let mut unresolved = false;
    for template in templates {
        match template.resolve(context, fold) {
            Some(segs) if is_match(&segs) => return Some(true),
            Some(_) => {}
            None => unresolved = true,
        }
    }
    if unresolved { None } else { Some(false) }
}

/// Lower-cases char by char, the same way `Template::parse` lower-cases literals.
fn fold_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// Wildcard matching in O(pattern × text): on a mismatch only the most recent `*` is widened,
/// which is enough because earlier stars can only ever need to match less.
fn glob(pattern: &[Seg], text: &str) -> bool {
    let (mut p, mut t) = (0, 0);
    // (pattern index after the last `*`, text position that star's match currently ends at)
    let mut last_star: Option<(usize, usize)> = None;
    loop {
        let rest = text.get(t..).unwrap_or_default();
        match pattern.get(p) {
            Some(Seg::Star) => {
                p += 1;
                if p == pattern.len() {
                    return true;
                }
                last_star = Some((p, t));
                continue;
            }
            Some(Seg::AnyChar) if !rest.is_empty() => {
                p += 1;
                t += rest.chars().next().map_or(0, char::len_utf8);
                continue;
            }
            Some(Seg::Lit(lit)) if rest.starts_with(lit.as_str()) => {
                p += 1;
                t += lit.len();
                continue;
            }
            // Unresolved variables are filtered out before matching; never match one.
            Some(Seg::Var(_)) => return false,
            None if rest.is_empty() => return true,
            // A mismatch: fall through to widen the last star.
            Some(Seg::AnyChar | Seg::Lit(_)) | None => {}
        }
        let Some((star_p, star_t)) = last_star else {
            return false;
        };
        let Some(c) = text.get(star_t..).and_then(|s| s.chars().next()) else {
            return false;
        };
        let widened = star_t + c.len_utf8();
        last_star = Some((star_p, widened));
        p = star_p;
        t = widened;
    }
}

/// `arn:partition:service:region:account:resource`; the resource part may hold more colons.
const ARN_PARTS: usize = 6;

/// ARN matching, part by part for the first five parts (see the module docs).
fn arn_matches(pattern: &[Seg], value: &str) -> bool {
    let parts = arn_parts(pattern);
    if parts.len() < ARN_PARTS {
        return glob(pattern, value);
    }
    let mut values = value.splitn(ARN_PARTS, ':');
    parts
        .iter()
        .all(|part| values.next().is_some_and(|v| glob(part, v)))
}

/// Splits a pattern at the colons in its literals, into at most [`ARN_PARTS`] parts.
fn arn_parts(pattern: &[Seg]) -> Vec<Vec<Seg>> {
    let mut parts: Vec<Vec<Seg>> = vec![Vec::new()];
    let push = |parts: &mut Vec<Vec<Seg>>, seg: Seg| {
        if let Some(last) = parts.last_mut() {
            last.push(seg);
        }
    };
    for seg in pattern {
        let Seg::Lit(lit) = seg else {
            push(&mut parts, seg.clone());
            continue;
        };
        let mut rest = lit.as_str();
        while parts.len() < ARN_PARTS {
            let Some((head, tail)) = rest.split_once(':') else {
                break;
            };
            if !head.is_empty() {
                push(&mut parts, Seg::Lit(head.to_owned()));
            }
            parts.push(Vec::new());
            rest = tail;
        }
        if !rest.is_empty() {
            push(&mut parts, Seg::Lit(rest.to_owned()));
        }
    }
    parts
}

/// A user-supplied string for an error message: quoted, escaped, and kept short.
fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Decision, Policy, Request, Seg, Syntax, Template, glob};
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
        let everyone =
            |extra: &str| statement(&format!(r#""Effect":"Allow","Principal":"*",{extra}"#));
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
                req("kms:Decrypt")
                    .with("kms:EncryptionContext:aws:s3:arn", &["arn:aws:s3:::bucket"]),
                Allow,
            ),
            (
                "StringEquals: key names case-insensitive",
                allow_if(
                    r#"{"StringEquals":{"KMS:EncryptionContext:AWS:S3:ARN":"arn:aws:s3:::bucket"}}"#,
                ),
                req("kms:Decrypt")
                    .with("kms:encryptioncontext:aws:s3:arn", &["arn:aws:s3:::bucket"]),
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
                allow_if(
                    r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#,
                ),
                req("x:y"),
                Allow,
            ),
            (
                "IfExists: present, mismatch",
                allow_if(
                    r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#,
                ),
                req("x:y").with("s3:x-amz-server-side-encryption", &["AES256"]),
                NotApplicable,
            ),
            (
                "IfExists: present, match",
                allow_if(
                    r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#,
                ),
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
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"*","NotAction":"kms:Decrypt""#,
                ),
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
}
