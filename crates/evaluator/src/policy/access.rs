//! What the analysis of a key policy says: who an Allow reaches ([`Who`]), one principal's
//! allowed actions from one statement ([`Access`]), and the whole [`Analysis`].

use std::collections::BTreeSet;
use std::sync::Arc;

use super::actions::ActionSet;
use super::parse::{InvalidStatement, Principal};
pub use super::reach::Reach;

/// Who an Allow reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// `Principal: "*"` (or `NotPrincipal`), narrowed by conditions.
    Everyone {
        /// Whom the conditions still admit.
        reach: Reach,
        /// Principals a `NotPrincipal` leaves out.
        except: Vec<Principal>,
    },
    /// An account, IAM identity, federated or canonical user.
    Named(Principal),
    /// An AWS service principal, acting on behalf of `on_behalf_of` (`aws:SourceAccount`...).
    Service {
        /// e.g. `cloudtrail.amazonaws.com`.
        name: String,
        /// The accounts or organizations the service may act for.
        on_behalf_of: Reach,
    },
}

impl Who {
    /// Whether a Deny naming `denied` covers this principal of an Allow.
    pub(super) fn covered_by(&self, denied: &Principal) -> bool {
        match (denied, self) {
            (Principal::Anyone, _) => true,
            (Principal::Account(a), Who::Named(p)) => p.account() == Some(a.as_str()),
            (d, Who::Named(p)) => d == p,
            (Principal::Service(d), Who::Service { name, .. }) => d == name,
            _ => false,
        }
    }

    /// Whether a Deny naming any of `denied` covers this principal.
    pub(super) fn covered_by_any(&self, denied: &[Principal]) -> bool {
        denied.iter().any(|d| self.covered_by(d))
    }

    /// Whether `p` is an identity of the account this names (so an Allow to it reaches `p`).
    pub(super) fn holds_identity(&self, p: &Principal) -> bool {
        matches!(
            (p, self),
            (Principal::Identity { .. } | Principal::Federated(_), Who::Named(Principal::Account(a)))
                if p.account() == Some(a.as_str())
        )
    }

    /// The principal in words, for explanations.
    pub fn describe(&self) -> String {
        match self {
            Who::Everyone { reach, except } if except.is_empty() => {
                if reach.is_anyone() {
                    "* (anyone)".into()
                } else {
                    format!("* restricted to {}", reach.describe())
                }
            }
            Who::Everyone { reach, except } => format!(
                "everyone except {} (NotPrincipal), restricted to {}",
                except
                    .iter()
                    .map(Principal::describe)
                    .collect::<Vec<_>>()
                    .join(", "),
                reach.describe()
            ),
            Who::Named(p) => p.describe(),
            Who::Service { name, on_behalf_of } => {
                if on_behalf_of.is_anyone() {
                    format!("service {name} on behalf of any account")
                } else {
                    format!("service {name} on behalf of {}", on_behalf_of.describe())
                }
            }
        }
    }

    /// Whether this is the account root of `account`.
    pub fn is_account_root(&self, account: Option<&str>) -> bool {
        matches!((self, account), (Who::Named(Principal::Account(a)), Some(k)) if a == k)
    }
}

/// How many narrowing Deny statements an access records: enough for any explanation, and a
/// hostile policy with thousands of Denies cannot make every access grow with them.
pub const MAX_NARROWED_BY: usize = 32;

/// One principal's allowed actions from one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Index of the Allow statement (0-based).
    pub statement_index: usize,
    /// Its Sid.
    pub sid: Option<String>,
    /// Who is allowed.
    pub who: Who,
    /// What is allowed, after Deny statements.
    pub actions: ActionSet,
    /// Every condition of the statement, written out (shared by the statement's accesses).
    pub conditions: Arc<[String]>,
    /// `Bool kms:GrantIsForAWSResource true` is present.
    pub grant_for_aws_resource: bool,
    /// A condition restricts the statement to the account root itself (`aws:PrincipalType`
    /// `Account`, or `aws:PrincipalArn` / `aws:userid` naming only roots): for the key account's
    /// root, no delegation to IAM policies.
    pub principal_type_account: bool,
    /// `aws:userid` values the statement requires, if any.
    pub userids: Vec<String>,
    /// For a named principal: the organizations its caller pins (Allow conditions, narrowing
    /// Denies) require it to belong to. Whether it can is known only to the trust zone.
    pub principal_orgs: Option<BTreeSet<String>>,
    /// The organizations an `…IfExists` Allow condition requires of a caller that belongs to
    /// one: a Deny of callers in no organization turns them into a pin.
    pub orgs_if_present: Option<super::condition::Pin>,
    /// Deny statements that narrowed this access (indices; the first
    /// [`MAX_NARROWED_BY`] are kept).
    pub narrowed_by: Vec<usize>,
    /// Conditions the analysis assumed hold although they do not now (a time window that
    /// opens later), in words.
    pub assumed: Arc<[String]>,
}

impl Access {
    /// Records that the Deny statement `deny_index` narrowed this access (the first
    /// [`MAX_NARROWED_BY`] are kept).
    pub(super) fn record_narrowing(&mut self, deny_index: usize) {
        if self.narrowed_by.len() < MAX_NARROWED_BY {
            self.narrowed_by.push(deny_index);
        }
    }

    /// Some action remains, and some caller can satisfy the statement's pins.
    pub(super) fn reaches_someone(&self) -> bool {
        !self.actions.is_empty()
            && match &self.who {
                Who::Everyone { reach, .. } => !reach.is_nobody(),
                Who::Service { on_behalf_of, .. } => !on_behalf_of.is_nobody(),
                Who::Named(_) => true,
            }
    }

    /// `; assumed: ...` for explanations, or nothing.
    pub fn assumed_text(&self) -> String {
        if self.assumed.is_empty() {
            String::new()
        } else {
            format!("; assumed: {}", self.assumed.join("; "))
        }
    }

    /// The statement's conditions joined, or `None` without conditions.
    pub fn condition_text(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join("; "))
    }
}

/// The analysis of one key policy.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Every (statement, principal) access that remains after Deny statements.
    pub accesses: Vec<Access>,
    /// Distinct principals named in Allow statements.
    pub principals: BTreeSet<Principal>,
    /// Statements that could not be read and were left out.
    pub invalid: Vec<InvalidStatement>,
    /// Why KMS would refuse the document as a whole, when it would.
    pub refused_by_kms: Option<String>,
    /// What the analysis assumed or left out and a reader should know: a statement whose time
    /// window has closed, one in effect only later, one assumed to apply to a key whose ARN is
    /// unknown, a principal of another partition.
    pub notes: Vec<String>,
    /// Principals of another partition than the key's that Allow statements name (statement
    /// index, principal): never granted anything.
    pub other_partition: Vec<(usize, Principal)>,
}

impl Analysis {
    /// Why no policy rule may PASS on this analysis: a statement left out may allow access.
    pub fn incomplete(&self) -> Option<String> {
        let hidden: Vec<String> = self
            .invalid
            .iter()
            .filter(|s| s.may_allow())
            .map(InvalidStatement::describe)
            .collect();
        (!hidden.is_empty()).then(|| {
            format!(
                "{} could not be read and may allow access the analysis cannot see",
                hidden.join("; ")
            )
        })
    }
}
