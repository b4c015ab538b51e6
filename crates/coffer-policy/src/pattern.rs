//! Policy strings parsed into literal text, wildcards and policy variables.

use super::variables::Variable;

/// A policy string taken apart into literal text, wildcards and policy variables.
#[derive(Debug, Clone)]
pub(super) struct Template {
    pub(super) segs: Vec<Seg>,
    pub(super) has_variables: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seg {
    Lit(String),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    AnyChar,
    Var(Variable),
}

/// What is special in a policy string depends on where it appears.
#[derive(Debug, Clone, Copy)]
pub(super) struct Syntax {
    pub(super) wildcards: bool,
    pub(super) variables: bool,
    pub(super) lowercase: bool,
}

impl Syntax {
    pub(super) const ACTION: Self = Self {
        wildcards: true,
        variables: false,
        lowercase: true,
    };
    pub(super) const PRINCIPAL: Self = Self {
        wildcards: true,
        variables: false,
        lowercase: false,
    };
}

impl Template {
    pub(super) fn parse(text: &str, syntax: Syntax) -> Self {
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
        // Most strings are one or two segments; without this each keeps room for four, and a
        // document of many short strings would take over 50 times its size once parsed.
        segs.shrink_to_fit();
        Self {
            segs,
            has_variables,
        }
    }
}

/// Lower-cases char by char, the same way `Template::parse` lower-cases literals.
pub(super) fn fold_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}
