//! Condition operator names (`ForAnyValue:StringNotLikeIfExists`, ...) taken apart.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quantifier {
    /// No set prefix.
    Single,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    pub(super) fn holds<T: PartialOrd>(self, actual: &T, expected: &T) -> bool {
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
pub(super) enum Family {
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
pub(super) struct Operator {
    pub(super) family: Family,
    pub(super) negated: bool,
    pub(super) if_exists: bool,
    pub(super) quantifier: Quantifier,
}

impl Operator {
    /// Operator names are matched case-insensitively; AWS's own spelling is the camel case.
    pub(super) fn parse(name: &str) -> Option<Self> {
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
