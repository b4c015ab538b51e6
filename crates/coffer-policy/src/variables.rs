//! Policy variables (`${aws:username}`): parsing one, and substituting them from the request.

use std::borrow::Cow;

use super::context::Context;
use super::pattern::{Seg, Template, fold_case};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Variable {
    /// Lower-cased, like condition keys.
    pub(super) key: String,
    pub(super) default: Option<String>,
}

impl Template {
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
    pub(super) fn parse(inner: &str) -> Self {
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
pub(super) fn any_resolved(
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
