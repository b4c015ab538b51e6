//! One policy statement: its elements parsed and checked, and whether it applies to a request.

use serde_json::{Map, Value};

use super::condition::Condition;
use super::context::Context;
use super::glob::glob;
use super::pattern::{Syntax, Template};
use super::principal::Principals;
use super::variables::any_resolved;
use super::{Request, quote};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
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
pub(super) struct Statement {
    pub(super) effect: Effect,
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
    pub(super) fn parse(value: &Value, variables: bool) -> Result<Self, String> {
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

    pub(super) fn applies(
        &self,
        request: &Request<'_>,
        action: &str,
        context: Context<'_>,
    ) -> bool {
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

    /// Whether deciding on this statement can read the request's context: through a
    /// condition, or through a policy variable in its resources.
    pub(super) fn reads_context(&self) -> bool {
        let variables = |patterns: &[Template]| patterns.iter().any(|p| p.has_variables);
        !self.conditions.is_empty()
            || match &self.resources {
                None => false,
                Some(Scope::Only(patterns) | Scope::Except(patterns)) => variables(patterns),
            }
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
pub(super) fn strings<'v>(value: &'v Value, name: &str) -> Result<Vec<&'v str>, String> {
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
