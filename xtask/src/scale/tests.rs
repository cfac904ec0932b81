//! The scanner against the scale stand-in, in process: paging at real page sizes, and random
//! throttling and 5xx on top of the quotas, checked verdict by verdict against the truth.

use std::sync::Arc;

use kmsaudit_model::{FindingsDocument, Snapshot, TagSource};
use kmsaudit_scanner::ScanPlan;

use super::{start, Behaviour, ScaleSpec, ScaleStandIn};

pub(super) async fn serve(
    accounts: usize,
    regions: usize,
    keys: usize,
    behaviour: Behaviour,
) -> ScaleStandIn {
    serve_with_iam(accounts, regions, keys, 0, behaviour).await
}

async fn serve_with_iam(
    accounts: usize,
    regions: usize,
    keys: usize,
    principals: usize,
    behaviour: Behaviour,
) -> ScaleStandIn {
    let root = crate::project_root();
    let spec = ScaleSpec {
        accounts,
        regions,
        keys,
        seed: 11,
        principals,
    };
    let org = super::generate::generate(spec, &root).expect("the organization generates");
    start(org, behaviour).await.expect("the stand-in starts")
}

async fn scan(standin: &ScaleStandIn) -> Snapshot {
    scan_with(standin, TagSource::TaggingApi).await
}

/// A scan of the stand-in without last use: at 5 requests/s per account × region it would take
/// minutes in these organizations' busiest regions (`last_use.rs` tests it on its own).
async fn scan_with(standin: &ScaleStandIn, tags_from: TagSource) -> Snapshot {
    scan_planned(
        standin,
        ScanPlan {
            tags_from,
            last_use: false,
            ..Default::default()
        },
    )
    .await
}

pub(super) async fn scan_planned(standin: &ScaleStandIn, plan: ScanPlan) -> Snapshot {
    let base = crate::seed::base_config(&standin.url, "us-east-1");
    let plan = ScanPlan {
        // The test's own time is the limit here, not the accounts' workloads.
        quota_share: 1.0,
        effective_access: standin.org().serves_iam(),
        ..plan
    };
    kmsaudit_scanner::scan(plan, base, Arc::new(|_| {}))
        .await
        .expect("the scan runs")
}

/// The scanned snapshot, evaluated, reproduces every verdict of the truth and no other.
pub(super) fn assert_truth(standin: &ScaleStandIn, scanned: &Snapshot) {
    let evaluation =
        kmsaudit_evaluator::evaluate(scanned, &kmsaudit_evaluator::EvalConfig::default());
    let got = FindingsDocument::new(scanned, &evaluation);
    let v = super::compare_verdicts(&standin.org().truth, &super::ScanFacts::of(scanned), &got);
    assert!(
        v.wrong.is_empty(),
        "{} differences: {:?}",
        v.wrong.len(),
        &v.wrong[..v.wrong.len().min(10)]
    );
    assert_eq!(v.right + v.not_reached, v.total);
}

fn keys_with_errors(s: &Snapshot) -> usize {
    s.keys().filter(|(_, _, k)| !k.errors.is_empty()).count()
}

/// 45 accounts (3 ListAccounts pages of 20), a key with 130 grants (2 ListGrants pages of 100),
/// regions with hundreds of aliases (pages of 100) and of tagged keys (GetResources pages of
/// 100): the scan reads every page and gets every verdict of the truth. Read per key instead,
/// the key with 70 tags takes 2 ListResourceTags pages of 50.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_at_real_page_sizes() {
    let standin = serve(45, 2, 700, Behaviour::default()).await;
    let scanned = scan(&standin).await;
    let stats = standin.stats();
    assert_eq!(stats.by_operation["Organizations.ListAccounts"], 3);
    let grants_pages = stats.by_operation["KMS.ListGrants"];
    let customer = standin
        .org()
        .truth
        .keys()
        .filter(|(_, _, k)| k.policy.is_some())
        .count() as u64;
    assert!(
        grants_pages > customer,
        "{grants_pages} ListGrants for {customer} keys"
    );
    // One GetResources page per 100 tagged keys of each account × region with keys (at least
    // one), and no ListResourceTags.
    let tag_pages: u64 = standin
        .org()
        .truth
        .accounts
        .iter()
        .flat_map(|a| &a.regions)
        .filter(|r| !r.keys.is_empty())
        .map(|r| {
            let tagged = r
                .keys
                .iter()
                .filter(|k| k.tags.as_ref().is_some_and(|t| !t.is_empty()))
                .count() as u64;
            tagged.div_ceil(100).max(1)
        })
        .sum();
    assert_eq!(stats.by_operation["Tagging.GetResources"], tag_pages);
    let busiest_tagged = standin
        .org()
        .truth
        .accounts
        .iter()
        .flat_map(|a| &a.regions)
        .map(|r| {
            r.keys
                .iter()
                .filter(|k| k.tags.as_ref().is_some_and(|t| !t.is_empty()))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        busiest_tagged > 100,
        "a region with {busiest_tagged} tagged keys pages"
    );
    assert!(!stats.by_operation.contains_key("KMS.ListResourceTags"));
    assert!(
        stats.by_operation["KMS.ListAliases"] > 10,
        "{:?}",
        stats.by_operation
    );
    assert_eq!(scanned.keys().count(), standin.org().truth.keys().count());
    assert_eq!(keys_with_errors(&scanned), 0);
    assert_truth(&standin, &scanned);

    standin.reset();
    let per_key = scan_with(&standin, TagSource::ListResourceTags).await;
    let stats = standin.stats();
    let tags_pages = stats.by_operation["KMS.ListResourceTags"];
    assert!(
        tags_pages > customer,
        "{tags_pages} ListResourceTags for {customer} keys"
    );
    assert!(!stats.by_operation.contains_key("Tagging.GetResources"));
    assert_eq!(keys_with_errors(&per_key), 0);
    assert_truth(&standin, &per_key);
}

/// 1,100 keys in one account × region: ListKeys answers in two pages of at most 1,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_keys_pages_past_a_thousand_keys() {
    let standin = serve(1, 1, 1_100, Behaviour::default()).await;
    let scanned = scan(&standin).await;
    assert_eq!(standin.stats().by_operation["KMS.ListKeys"], 2);
    assert_eq!(scanned.keys().count(), 1_100);
    assert_truth(&standin, &scanned);
}

/// 10 % of requests throttled and 5 % answered 5xx at random, on top of the quotas: retries
/// recover every one, nothing is lost and every verdict is the truth's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_lose_nothing() {
    let behaviour = Behaviour {
        throttle: 0.10,
        error5xx: 0.05,
        seed: 5,
        ..Default::default()
    };
    let standin = serve(45, 2, 700, behaviour).await;
    let scanned = scan(&standin).await;
    let stats = standin.stats();
    assert!(stats.throttled_injected > 100, "{stats:?}");
    assert!(stats.server_errors_injected > 50, "{stats:?}");
    assert_eq!(keys_with_errors(&scanned), 0);
    assert!(
        scanned
            .accounts
            .iter()
            .all(|a| matches!(a.access, kmsaudit_model::AccountAccess::Scanned { .. })),
        "every account entered"
    );
    assert_truth(&standin, &scanned);
}

/// 1,001 principals an account: GetAccountAuthorizationDetails answers in two pages of at
/// most 1,000 items (2 IAM calls an account, within the 3 the issue allows); the organization's
/// 21 member accounts in their OU take 2 ListAccountsForParent pages of 20 and FullAWSAccess's
/// 24 targets 2 ListTargetsForPolicy pages; the one AWS managed policy is read once for the scan.
/// The scanned IAM and SCP/RCP tree give every verdict of the truth, effective access included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_and_organization_policies_at_real_page_sizes() {
    let standin = serve_with_iam(22, 1, 100, 1_001, Behaviour::default()).await;
    let scanned = scan(&standin).await;
    let stats = standin.stats();
    let ops = &stats.by_operation;
    assert_eq!(ops["IAM.GetAccountAuthorizationDetails"], 2 * 22, "{ops:?}");
    assert_eq!(ops["IAM.GetPolicy"], 1, "{ops:?}");
    assert_eq!(ops["IAM.GetPolicyVersion"], 1, "{ops:?}");
    let org_calls: u64 = ops
        .iter()
        .filter(|(op, _)| op.starts_with("Organizations."))
        .map(|(_, n)| n)
        .sum();
    assert!(org_calls <= 30, "{org_calls} Organizations calls: {ops:?}");
    assert_eq!(ops["Organizations.ListAccountsForParent"], 1 + 2, "{ops:?}");
    assert_eq!(
        ops["Organizations.ListTargetsForPolicy"],
        2 * 2 + 2,
        "{ops:?}"
    );
    for account in &scanned.accounts {
        let iam = account.iam.as_ref().expect("IAM read");
        assert!(iam.errors.is_empty(), "{:?}", iam.errors);
        assert_eq!(iam.principals.len(), 1_001, "{}", account.id);
    }
    let truth_tree = standin
        .org()
        .truth
        .organization
        .as_ref()
        .and_then(|o| o.policies.as_ref());
    let tree = scanned
        .organization
        .as_ref()
        .and_then(|o| o.policies.as_ref());
    let (truth_tree, tree) = (truth_tree.expect("a tree"), tree.expect("the tree read"));
    assert!(tree.errors.is_empty(), "{:?}", tree.errors);
    assert_eq!(tree.parents, truth_tree.parents);
    assert_eq!(tree.enabled, truth_tree.enabled);
    let targets = |t: &kmsaudit_model::OrgPolicies| -> Vec<(String, Vec<String>)> {
        t.policies
            .iter()
            .map(|p| (p.id.clone(), p.targets.clone()))
            .collect()
    };
    assert_eq!(targets(tree), targets(truth_tree));
    assert_eq!(scanned.aws_managed_policies.len(), 1);
    assert_truth(&standin, &scanned);
}
