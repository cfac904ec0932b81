//! SDK errors → [`Issue`]: the AWS error code and message, or what failed before AWS answered.

use std::error::Error;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use kmsaudit_model::Issue;

/// Describes a failed call of `operation` (e.g. `KMS.ListKeys`).
pub(crate) fn issue<E, R>(operation: &str, err: &SdkError<E, R>) -> Issue
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            (
                e.code().unwrap_or("Unknown").to_string(),
                e.message().unwrap_or("").to_string(),
            )
        }
        SdkError::TimeoutError(_) => ("Timeout".to_string(), chain(err)),
        SdkError::DispatchFailure(_) => ("DispatchFailure".to_string(), chain(err)),
        SdkError::ResponseError(_) => ("ResponseError".to_string(), chain(err)),
        SdkError::ConstructionFailure(_) => ("ConstructionFailure".to_string(), chain(err)),
        _ => ("Unknown".to_string(), chain(err)),
    };
    Issue::new(operation, code, sanitize(&message))
}

/// The error and its sources, one line.
fn chain(err: &dyn Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// AWS text is hostile: no control characters (terminal escapes), bounded length.
pub(crate) fn sanitize(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.chars().count() > 1000 {
        cleaned.chars().take(1000).collect::<String>() + "…"
    } else {
        cleaned
    }
}

/// Error codes KMS answers with in a region the account has not enabled (opt-in regions).
pub(crate) fn is_region_not_enabled(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure" | "OptInRequired"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_control_characters_and_bounds_length() {
        assert_eq!(sanitize("a\u{1b}[31mred\n"), "a [31mred ");
        assert_eq!(sanitize(&"x".repeat(2000)).chars().count(), 1001);
    }
}
