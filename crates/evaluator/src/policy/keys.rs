//! What a condition key's values can be in a KMS request: the alphabet of ids, the keys whose
//! values never hold `*` or `?`, the global keys a variable may name, and a key compared with
//! its own value (IAM User Guide, "AWS global condition context keys").

/// Keys whose values never hold `*` or `?` (ids, service names, user names, addresses): under
/// `StringEquals` such a character is literal, so a value holding one matches no request.
fn never_holds_wildcard_chars(key: &str) -> bool {
    matches!(
        key,
        "kms:calleraccount"
            | "aws:principalaccount"
            | "aws:sourceaccount"
            | "aws:principalorgid"
            | "aws:sourceorgid"
            | "aws:resourceaccount"
            | "aws:resourceorgid"
            | "aws:sourcevpce"
            | "aws:sourcevpc"
            | "aws:sourceip"
            | "aws:vpcsourceip"
            | "kms:viaservice"
            | "aws:username"
            | "aws:userid"
            | "aws:principaltype"
            | "aws:principalservicename"
            | "aws:requestedregion"
            | "kms:keyspec"
            | "kms:keyusage"
            | "kms:keyorigin"
            | "kms:grantoperations"
    )
}

/// The characters every value of a key is made of, where the key's values have a fixed
/// shape: account ids are digits; organization ids, VPC and VPC endpoint ids are lowercase
/// letters, digits and `-` (organization paths add `/`). A value holding another literal
/// character (a `${` that is text, an escaped `${*}`) matches no request.
fn charset(key: &str) -> Option<fn(char) -> bool> {
    Some(match key {
        "kms:calleraccount"
        | "aws:principalaccount"
        | "aws:sourceaccount"
        | "aws:resourceaccount" => |c: char| c.is_ascii_digit(),
        "aws:principalorgid" | "aws:sourceorgid" | "aws:resourceorgid" | "aws:sourcevpce"
        | "aws:sourcevpc" => |c: char| c.is_ascii_alphanumeric() || c == '-',
        "aws:principalorgpaths" | "aws:sourceorgpaths" | "aws:resourceorgpaths" => {
            |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '/'
        }
        _ => return None,
    })
}

/// Whether a (resolved) value can match some value of the key under an operator that does
/// (`wild`) or does not treat `*` / `?` as wildcards.
pub(super) fn can_match(key: &str, value: &str, wild: bool) -> bool {
    match charset(key) {
        Some(ok) => value
            .chars()
            .all(|c| ok(c) || (wild && matches!(c, '*' | '?'))),
        None => wild || !never_holds_wildcard_chars(key) || !value.contains(['*', '?']),
    }
}

/// Global keys a request may carry (so a variable naming one depends on the request), besides
/// every `kms:` key and the tag families. A variable naming any other key has no value.
const GLOBAL_KEYS: [&str; 38] = [
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:currenttime",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:multifactorauthage",
    "aws:multifactorauthpresent",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalisawsservice",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:principaltype",
    "aws:referer",
    "aws:requestedregion",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
    "aws:securetransport",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceidentity",
    "aws:sourceip",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcevpcarn",
    "aws:tagkeys",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
    "aws:vpcsourceip",
];

pub(super) fn may_have_value(key: &str) -> bool {
    key.starts_with("kms:")
        || key.starts_with("aws:principaltag/")
        || key.starts_with("aws:resourcetag/")
        || key.starts_with("aws:requesttag/")
        || GLOBAL_KEYS.contains(&key)
}

/// Whether `value` is exactly a variable naming the attribute `key` holds (`${key}` itself, or
/// the caller's account under its other name).
pub(super) fn same_attribute(key: &str, value: &str) -> bool {
    let Some(inner) = value
        .trim()
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
    else {
        return false;
    };
    let var = inner.trim().to_ascii_lowercase();
    let account = |k: &str| matches!(k, "kms:calleraccount" | "aws:principalaccount");
    var == key || (account(&var) && account(key))
}
