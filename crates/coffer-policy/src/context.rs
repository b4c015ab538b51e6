//! The request's condition keys, looked up case-insensitively for conditions and variables.

use std::collections::BTreeMap;

use super::variables::Variable;

/// Condition keys are case-insensitive, so lookups fall back to a case-insensitive scan when the
/// caller's spelling differs from the policy's.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context<'a>(pub(super) &'a BTreeMap<String, Vec<String>>);

impl<'a> Context<'a> {
    /// The key's values, `None` if it is missing or has none. `key` is lower-case.
    pub(super) fn values(self, key: &str) -> Option<&'a [String]> {
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
    pub(super) fn variable<'v>(self, variable: &'v Variable) -> Option<&'v str>
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
