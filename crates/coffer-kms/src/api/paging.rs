//! Paging of the List* operations: `Limit` and `Marker` in, `Truncated` and `NextMarker` out.

use serde_json::{Value, json};

use super::members::Members;
use crate::api_error::KmsApiError;

/// A page of `items` after `marker` (the last item of the previous page).
pub(super) fn page<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> String,
    members: &Members,
) -> Result<(Vec<T>, Option<String>), KmsApiError> {
    let limit = match members.int("Limit")? {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(KmsApiError::validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
            )));
        }
    };
    let start = match members.str("Marker")? {
        None => 0,
        Some(m) => {
            items
                .iter()
                .position(|i| id(i) == m)
                .ok_or_else(KmsApiError::invalid_marker)?
                + 1
        }
    };
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let truncated = rest.len() > limit;
    let page: Vec<T> = rest.into_iter().take(limit).collect();
    let next = truncated.then(|| page.last().map(&id)).flatten();
    Ok((page, next))
}

/// Marks a listing as truncated or not, with the marker of the next page.
pub(super) fn paged(mut body: Value, next: Option<String>) -> Value {
    body["Truncated"] = json!(next.is_some());
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    body
}
