//! What every rule may read besides its own resource: the configuration, the trust zone, "now",
//! and what Access Analyzer covers across the organization. Built once per evaluation.

use std::collections::{BTreeMap, BTreeSet};

use kmsaudit_model::{AccountAccess, AnalyzerFinding, RegionAccess, Snapshot, Timestamp};

use crate::config::EvalConfig;
use crate::policy::Reach;

/// Evaluation-wide inputs.
pub(crate) struct Ctx<'a> {
    pub config: &'a EvalConfig,
    pub zone: TrustZone,
    /// The zone of an organization analyzer: the organization only (Access Analyzer knows no
    /// configured trusted accounts). Built once, not per key.
    pub analyzer_zone: TrustZone,
    /// "Now" of the evaluation: the scan's start time, never the clock.
    pub now: Timestamp,
    pub analyzers: AnalyzerView,
    /// Effective access by key, when the snapshot holds IAM data (see `effective`).
    pub access: Option<AccessIndex>,
    /// What guards each customer-managed key's destruction (see `effective::deletion_guard`).
    pub deletion_guards: crate::effective::DeletionGuards<'a>,
    /// Trails, log groups, alarms and topics across accounts (see `monitor`).
    pub monitor: crate::monitor::MonitorIndex<'a>,
}

/// Effective access, with what the access rules read besides it.
pub(crate) struct AccessIndex {
    pub table: kmsaudit_model::AccessTable,
    /// What RCPs do to outside callers, by member account holding customer-managed keys.
    pub guards: std::collections::BTreeMap<String, crate::effective::RcpGuard>,
    /// Every IAM identity policy where it is used, with whether it allows decrypt on every
    /// key and the keys it reaches (KMS-IAM-DECRYPT-ALL).
    pub iam_policies: Vec<crate::effective::PolicyReach>,
}

impl AccessIndex {
    pub fn new(
        table: kmsaudit_model::AccessTable,
        guards: std::collections::BTreeMap<String, crate::effective::RcpGuard>,
    ) -> AccessIndex {
        AccessIndex {
            table,
            guards,
            iam_policies: vec![],
        }
    }

    /// The entries of one key (none: nobody can).
    pub fn of(&self, key_arn: &str) -> Vec<kmsaudit_model::AccessEntryView<'_>> {
        self.table.of(key_arn)
    }
}

impl<'a> Ctx<'a> {
    /// A context with no Access Analyzer data (lint-policy, tests).
    pub fn new(config: &'a EvalConfig, zone: TrustZone, now: Timestamp) -> Ctx<'a> {
        Ctx {
            config,
            analyzer_zone: TrustZone {
                org_id: zone.org_id.clone(),
                org_accounts: zone.org_accounts.clone(),
                ..TrustZone::default()
            },
            zone,
            now,
            analyzers: AnalyzerView::default(),
            access: None,
            deletion_guards: Default::default(),
            monitor: Default::default(),
        }
    }

    /// The context of a scan: its accounts form the zone, its start is "now".
    pub fn for_snapshot(snapshot: &'a Snapshot, config: &'a EvalConfig) -> Ctx<'a> {
        let zone = TrustZone::new(
            snapshot.organization.as_ref().map(|o| o.id.clone()),
            // Without Organizations (accounts named by hand) only the scanned accounts are known.
            snapshot.accounts.iter().map(|a| a.id.clone()),
            config,
        );
        // Effective access is computed when the scan read IAM.
        let read_iam = snapshot.accounts.iter().any(|a| a.iam.is_some());
        let (access, deletion_guards) = crate::effective::analyse(snapshot, config, read_iam);
        let access = access.map(|(table, guards)| {
            let iam_policies = crate::effective::review_iam_policies(snapshot, &table);
            AccessIndex {
                iam_policies,
                ..AccessIndex::new(table, guards)
            }
        });
        Ctx {
            analyzers: AnalyzerView::of(snapshot),
            access,
            deletion_guards,
            monitor: crate::monitor::MonitorIndex::build(snapshot),
            ..Ctx::new(config, zone, snapshot.metadata.started_at)
        }
    }
}

/// Someone outside the trust zone that a policy lets in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Party {
    /// An account.
    Account(String),
    /// Any account of an organization.
    Organization(String),
    /// Any account whose id matches a wildcard pattern (`1111222233*`).
    AccountsMatching(String),
    /// Any account of an organization whose id matches a wildcard pattern (`o-a1b2c3*`).
    OrganizationsMatching(String),
    /// Any account, through a service that has no source condition (confused deputy).
    AnyAccountVia(String),
    /// Identities pinned by `aws:userid` whose account is unknown.
    UnknownIdentity(Vec<String>),
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Party::Account(a) => f.write_str(a),
            Party::Organization(o) => write!(f, "organization {o}"),
            Party::AccountsMatching(p) => write!(f, "any account matching {p}"),
            Party::OrganizationsMatching(p) => write!(f, "any organization matching {p}"),
            Party::AnyAccountVia(s) => write!(f, "any account via {s}"),
            Party::UnknownIdentity(ids) => write!(
                f,
                "an identity of unknown account (aws:userid {})",
                ids.join(", ")
            ),
        }
    }
}

/// Which accounts count as "inside": the organization, the trusted accounts, the key's own.
#[derive(Debug, Clone, Default)]
pub struct TrustZone {
    pub org_id: Option<String>,
    pub org_accounts: BTreeSet<String>,
    pub trusted_accounts: BTreeSet<String>,
    /// `aws:userid` patterns of approved administrators (the admin allowlist's non-ARN entries):
    /// identities known to be inside although their account is not written down.
    pub trusted_ids: Vec<String>,
}

impl TrustZone {
    /// The organization's accounts plus the configured trusted accounts.
    pub(crate) fn new(
        org_id: Option<String>,
        org_accounts: impl IntoIterator<Item = String>,
        config: &EvalConfig,
    ) -> TrustZone {
        TrustZone {
            org_id,
            org_accounts: org_accounts.into_iter().collect(),
            trusted_accounts: config.trusted_accounts.iter().cloned().collect(),
            trusted_ids: config
                .admin_allowlist
                .iter()
                .filter(|p| !p.starts_with("arn:"))
                .cloned()
                .collect(),
        }
    }

    /// Whether every `aws:userid` value is an approved administrator's.
    pub fn trusts_ids(&self, userids: &[String]) -> bool {
        userids.iter().all(|u| {
            self.trusted_ids
                .iter()
                .any(|p| crate::policy::wildcard_match(p, u))
        })
    }

    pub fn is_inside(&self, account: &str, key_account: Option<&str>) -> bool {
        key_account == Some(account)
            || self.org_accounts.contains(account)
            || self.trusted_accounts.contains(account)
    }

    /// Whether `org` is the organization's id (ids are lowercase; compared without case).
    pub fn is_own_org(&self, org: &str) -> bool {
        self.org_id
            .as_deref()
            .is_some_and(|own| own.eq_ignore_ascii_case(org))
    }

    /// Whether `account`, outside the zone, can never satisfy a pin to `orgs`: they are all the
    /// own organization, and an account outside the zone is not one of its members (a member
    /// left out of `org_accounts` would be inside, not external, either way).
    pub fn never_in(&self, account: &str, orgs: &BTreeSet<String>) -> bool {
        !self.org_accounts.contains(account) && orgs.iter().all(|o| self.is_own_org(o))
    }

    /// Accounts (or organizations) outside the zone that `reach` admits; empty when `reach`
    /// admits nobody outside. `reach` must not be "anyone" (that is public, judged apart).
    pub(crate) fn outside_of_reach(&self, reach: &Reach, key_account: Option<&str>) -> Vec<Party> {
        use crate::policy::has_wildcard;
        if let Some(orgs) = &reach.orgs {
            if orgs.iter().all(|o| self.is_own_org(o)) {
                return vec![];
            }
        }
        // A pattern always admits accounts (organizations) nobody wrote down: outside.
        if let Some(accounts) = &reach.accounts {
            return accounts
                .iter()
                .filter(|a| has_wildcard(a) || !self.is_inside(a, key_account))
                .map(|a| match has_wildcard(a) {
                    true => Party::AccountsMatching(a.clone()),
                    false => Party::Account(a.clone()),
                })
                .collect();
        }
        match &reach.orgs {
            Some(orgs) => orgs
                .iter()
                .filter(|o| !self.is_own_org(o))
                .map(|o| match has_wildcard(o) {
                    true => Party::OrganizationsMatching(o.clone()),
                    false => Party::Organization(o.clone()),
                })
                .collect(),
            // Network or identity pins only: not public, and no account we can name.
            None => vec![],
        }
    }
}

/// Access Analyzer across the organization: where organization analyzers are known to exist,
/// where what analyzers exist or report could not be read, and the active findings.
///
/// An organization analyzer lives in the management account or a delegated administrator.
/// Coverage of a region is unknown when any scanned account's listing there failed or was not
/// made (region not read), or when the management account itself could not be entered. An
/// analyzer in another account that could not be entered is not seen (the account is reported
/// NOT_ASSESSED on its own).
#[derive(Debug, Default)]
pub(crate) struct AnalyzerView {
    /// Regions where an ACTIVE organization analyzer was listed.
    pub org_regions: BTreeSet<String>,
    /// Regions whose analyzers or findings could not all be read, with the first reason.
    unknown_regions: BTreeMap<String, String>,
    /// Set when the management account could not be entered: every region is unknown.
    unknown_everywhere: Option<String>,
    /// Active findings by key ARN, from every account of the snapshot.
    pub findings: BTreeMap<String, Vec<AnalyzerFinding>>,
}

impl AnalyzerView {
    fn of(snapshot: &Snapshot) -> AnalyzerView {
        let mut view = AnalyzerView::default();
        if !snapshot.metadata.scope.access_analyzer {
            return view;
        }
        let management = snapshot
            .organization
            .as_ref()
            .map(|o| o.management_account_id.as_str());
        // Where an organization analyzer can live, when known: elsewhere a region without keys
        // has nothing Access Analyzer could say, and the scanner does not ask.
        let homes = snapshot
            .organization
            .as_ref()
            .and_then(|o| o.analyzer_homes());
        let cannot_matter = |account: &str, region: &kmsaudit_model::RegionRecord| {
            region.keys.is_empty() && homes.as_ref().is_some_and(|h| !h.contains(&account))
        };
        for account in &snapshot.accounts {
            if let AccountAccess::NotAssessed { issue } = &account.access {
                if Some(account.id.as_str()) == management {
                    view.unknown_everywhere = Some(format!(
                        "the management account {} could not be read ({}: {})",
                        account.id, issue.code, issue.message
                    ));
                }
            }
            for region in &account.regions {
                let unknown = match (&region.access, &region.access_analyzer) {
                    (RegionAccess::Skipped { .. }, _) => None,
                    (_, None) if cannot_matter(&account.id, region) => None,
                    (_, None) => Some(format!(
                        "Access Analyzer of account {} was not read in this region",
                        account.id
                    )),
                    (_, Some(aa)) => aa.error.as_ref().map(|e| {
                        format!(
                            "Access Analyzer of account {} could not be read ({}: {})",
                            account.id, e.code, e.message
                        )
                    }),
                };
                if let Some(why) = unknown {
                    view.unknown_regions
                        .entry(region.region.clone())
                        .or_insert(why);
                }
                let Some(aa) = &region.access_analyzer else {
                    continue;
                };
                if aa
                    .analyzers
                    .iter()
                    .any(|a| a.analyzer_type == "ORGANIZATION" && a.status == "ACTIVE")
                {
                    view.org_regions.insert(region.region.clone());
                }
                for f in aa.findings.iter().filter(|f| f.status == "ACTIVE") {
                    let list = view.findings.entry(f.resource.clone()).or_default();
                    if !list.iter().any(|g| g.id == f.id) {
                        list.push(f.clone());
                    }
                }
            }
        }
        view
    }

    /// Why what the organization's analyzers cover or report in `region` is unknown, if it is.
    pub fn unknown(&self, region: &str) -> Option<&str> {
        self.unknown_everywhere
            .as_deref()
            .or_else(|| self.unknown_regions.get(region).map(String::as_str))
    }
}
