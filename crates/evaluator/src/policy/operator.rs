//! Condition operators as IAM spells them: the comparison (`StringLike`, `IpAddress`, ...), the
//! `...IfExists` suffix and the `ForAnyValue:` / `ForAllValues:` set qualifiers.

/// A condition operator without its `...IfExists` suffix and set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOperator {
    /// IAM's `StringEquals`.
    StringEquals,
    /// IAM's `StringNotEquals`.
    StringNotEquals,
    /// IAM's `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// IAM's `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// IAM's `StringLike`.
    StringLike,
    /// IAM's `StringNotLike`.
    StringNotLike,
    /// IAM's `NumericEquals`.
    NumericEquals,
    /// IAM's `NumericNotEquals`.
    NumericNotEquals,
    /// IAM's `NumericLessThan`.
    NumericLessThan,
    /// IAM's `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// IAM's `NumericGreaterThan`.
    NumericGreaterThan,
    /// IAM's `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// IAM's `DateEquals`.
    DateEquals,
    /// IAM's `DateNotEquals`.
    DateNotEquals,
    /// IAM's `DateLessThan`.
    DateLessThan,
    /// IAM's `DateLessThanEquals`.
    DateLessThanEquals,
    /// IAM's `DateGreaterThan`.
    DateGreaterThan,
    /// IAM's `DateGreaterThanEquals`.
    DateGreaterThanEquals,
    /// IAM's `Bool`.
    Bool,
    /// IAM's `BinaryEquals`.
    BinaryEquals,
    /// IAM's `IpAddress`.
    IpAddress,
    /// IAM's `NotIpAddress`.
    NotIpAddress,
    /// IAM's `ArnEquals`.
    ArnEquals,
    /// IAM's `ArnLike`.
    ArnLike,
    /// IAM's `ArnNotEquals`.
    ArnNotEquals,
    /// IAM's `ArnNotLike`.
    ArnNotLike,
    /// IAM's `Null`.
    Null,
}

const BASE_OPERATORS: [(&str, BaseOperator); 27] = {
    use BaseOperator::*;
    [
        ("StringEquals", StringEquals),
        ("StringNotEquals", StringNotEquals),
        ("StringEqualsIgnoreCase", StringEqualsIgnoreCase),
        ("StringNotEqualsIgnoreCase", StringNotEqualsIgnoreCase),
        ("StringLike", StringLike),
        ("StringNotLike", StringNotLike),
        ("NumericEquals", NumericEquals),
        ("NumericNotEquals", NumericNotEquals),
        ("NumericLessThan", NumericLessThan),
        ("NumericLessThanEquals", NumericLessThanEquals),
        ("NumericGreaterThan", NumericGreaterThan),
        ("NumericGreaterThanEquals", NumericGreaterThanEquals),
        ("DateEquals", DateEquals),
        ("DateNotEquals", DateNotEquals),
        ("DateLessThan", DateLessThan),
        ("DateLessThanEquals", DateLessThanEquals),
        ("DateGreaterThan", DateGreaterThan),
        ("DateGreaterThanEquals", DateGreaterThanEquals),
        ("Bool", Bool),
        ("BinaryEquals", BinaryEquals),
        ("IpAddress", IpAddress),
        ("NotIpAddress", NotIpAddress),
        ("ArnEquals", ArnEquals),
        ("ArnLike", ArnLike),
        ("ArnNotEquals", ArnNotEquals),
        ("ArnNotLike", ArnNotLike),
        ("Null", Null),
    ]
};

impl BaseOperator {
    fn name(self) -> &'static str {
        BASE_OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Positive matching operators: true only when the key is present and matches.
    /// `StringEqualsIgnoreCase` / `StringNotEqualsIgnoreCase`.
    pub(crate) fn ignores_case(self) -> bool {
        matches!(
            self,
            BaseOperator::StringEqualsIgnoreCase | BaseOperator::StringNotEqualsIgnoreCase
        )
    }

    pub(crate) fn is_positive_match(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike | IpAddress
        )
    }

    /// Negated matching operators: true when the key is absent or matches none of the values.
    pub(crate) fn is_negated_match(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | ArnNotEquals
                | ArnNotLike
                | NotIpAddress
        )
    }

    /// `ArnEquals`, `ArnLike` and their negations: a `*` stays inside one ARN field.
    pub(crate) fn is_arn(self) -> bool {
        use BaseOperator::*;
        matches!(self, ArnEquals | ArnLike | ArnNotEquals | ArnNotLike)
    }

    /// Operators whose values may hold `*` / `?` wildcards. (`ArnEquals` matches like
    /// `ArnLike` in IAM.) Under `StringEquals` a `*` is a literal character.
    pub(crate) fn has_wildcards(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringLike | StringNotLike | ArnEquals | ArnLike | ArnNotEquals | ArnNotLike
        )
    }
}

/// How a multivalued key is compared: `ForAnyValue:`, `ForAllValues:`, or as one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// No qualifier: the key is compared as a single value.
    None,
    /// At least one of the request's values matches.
    ForAnyValue,
    /// Every one of the request's values matches (true when the key is absent).
    ForAllValues,
}

/// A whole operator as written, e.g. `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The comparison.
    pub base: BaseOperator,
    /// `...IfExists`: true when the key is absent from the request.
    pub if_exists: bool,
    /// The set qualifier.
    pub set: SetQualifier,
}

impl Operator {
    /// Parses `StringEquals`, `StringLikeIfExists`, `ForAnyValue:StringEquals`, ...
    /// case-insensitively. `Null` takes no `IfExists`.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = match name.split_once(':') {
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAnyValue") => {
                (SetQualifier::ForAnyValue, rest)
            }
            Some((q, rest)) if q.eq_ignore_ascii_case("ForAllValues") => {
                (SetQualifier::ForAllValues, rest)
            }
            Some(_) => return None,
            None => (SetQualifier::None, name),
        };
        let (rest, if_exists) = match rest.len().checked_sub("IfExists".len()) {
            Some(cut)
                if rest.is_char_boundary(cut) && rest[cut..].eq_ignore_ascii_case("IfExists") =>
            {
                (&rest[..cut], true)
            }
            _ => (rest, false),
        };
        let base = BASE_OPERATORS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(rest))
            .map(|(_, op)| *op)?;
        if if_exists && base == BaseOperator::Null {
            return None;
        }
        Some(Operator {
            base,
            if_exists,
            set,
        })
    }

    /// The operator as IAM spells it.
    pub fn name(&self) -> String {
        let prefix = match self.set {
            SetQualifier::None => "",
            SetQualifier::ForAnyValue => "ForAnyValue:",
            SetQualifier::ForAllValues => "ForAllValues:",
        };
        format!(
            "{prefix}{}{}",
            self.base.name(),
            if self.if_exists { "IfExists" } else { "" }
        )
    }
}
