//! The words of an access path (`AccessRow::via`): written by the analysis, read back by the
//! rules that need to know how a path ran, so both sides share one spelling.

/// Between two steps of a path.
pub(super) const STEP: &str = " → ";
/// Opens a step through a role the caller assumes: `assumes ROLE-ARN (trust ...)`.
pub(super) const ASSUMES: &str = "assumes ";
/// Opens the label of a managed identity policy (customer or AWS managed).
pub(super) const MANAGED_POLICY: &str = "managed policy ";
/// Opens the label of an inline identity policy (of the user or role, or of a group).
pub(super) const INLINE_POLICY: &str = "inline policy ";

/// The role whose permissions a path uses: the last role it assumes.
pub(crate) fn last_assumed_role(via: &str) -> Option<&str> {
    via.split(STEP)
        .filter_map(|step| step.strip_prefix(ASSUMES))
        .filter_map(|rest| rest.split_whitespace().next())
        .last()
}

/// Whether the caller's own identity policies allowed the path (the key policy delegating to
/// its account), with no role assumed on the way.
pub(super) fn through_identity_policy(via: &str) -> bool {
    !via.starts_with(ASSUMES)
        && via
            .split(STEP)
            .skip(1)
            .any(|step| step.starts_with(MANAGED_POLICY) || step.starts_with(INLINE_POLICY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_back_as_written() {
        let via = "assumes arn:aws:iam::1:role/A (trust policy of arn:aws:iam::1:role/A statement 0) → assumes arn:aws:iam::1:role/B (x) → key policy Sid S";
        assert_eq!(last_assumed_role(via), Some("arn:aws:iam::1:role/B"));
        assert!(!through_identity_policy(via));
        let via = "key policy Sid Enable IAM User Permissions → inline policy inline0 of the role statement 0";
        assert_eq!(last_assumed_role(via), None);
        assert!(through_identity_policy(via));
        assert!(through_identity_policy(
            "key policy Sid X → managed policy arn:aws:iam::aws:policy/PowerUserAccess statement 0"
        ));
        assert!(!through_identity_policy("key policy Sid KeyUsers"));
    }
}
