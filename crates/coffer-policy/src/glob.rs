//! Wildcard (`*`, `?`) matching of a parsed pattern against text.

use super::pattern::Seg;

/// Wildcard matching in O(pattern × text): on a mismatch only the most recent `*` is widened,
/// which is enough because earlier stars can only ever need to match less.
pub(super) fn glob(pattern: &[Seg], text: &str) -> bool {
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
