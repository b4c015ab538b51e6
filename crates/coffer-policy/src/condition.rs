//! The `Condition` block: key tests with typed values, and whether a request satisfies them.

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use time::OffsetDateTime;

use super::arn::arn_matches;
use super::context::Context;
use super::glob::glob;
use super::operator::{Comparison, Family, Operator, Quantifier};
use super::pattern::{Syntax, Template, fold_case};
use super::quote;
use super::scalar::{Cidr, parse_all, parse_bool, parse_date, parse_number};
use super::variables::any_resolved;

/// One key test from a `Condition` block, e.g. `"StringEquals": {"aws:username": "alice"}`.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    /// Lower-cased, because condition key names are case-insensitive.
    key: String,
    test: Test,
    negated: bool,
    if_exists: bool,
    quantifier: Quantifier,
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

impl Condition {
    pub(super) fn parse_block(block: &Value, variables: bool) -> Result<Vec<Self>, String> {
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

    pub(super) fn holds(&self, context: Context<'_>) -> bool {
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
