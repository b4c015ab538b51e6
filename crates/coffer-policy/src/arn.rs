//! ARN matching, part by part, as `ArnEquals`/`ArnLike` do.

use super::glob::glob;
use super::pattern::Seg;

/// `arn:partition:service:region:account:resource`; the resource part may hold more colons.
pub(super) const ARN_PARTS: usize = 6;

/// ARN matching, part by part for the first five parts (see the module docs).
pub(super) fn arn_matches(pattern: &[Seg], value: &str) -> bool {
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
