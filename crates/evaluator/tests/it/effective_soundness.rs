//! Soundness of effective access against a concrete composition of the reference evaluator.
//!
//! Generated organizations (a key account and a member account in the organization, one outside
//! it; roles and users with identity policies, boundaries, grants, SCPs and RCPs drawn from a
//! vocabulary) are judged two ways: by `effective_access`, and by deciding every concrete request
//! (each principal, action and a sample of request contexts for the keys a scan cannot know)
//! with the reference evaluator, layer by layer, as IAM documents it. Every request the
//! reference allows must appear in the analysis (`allowed` or `conditional`), and an `allowed`
//! row must be allowed by the reference in every context.

use std::collections::BTreeMap;
use std::sync::Arc;

use kmsaudit_evaluator::effective_access;
use kmsaudit_evaluator::policy::reference::{decide, Caller, Decision, Request};
use kmsaudit_evaluator::policy::{
    parse_policy, parse_policy_as, Effect, Policy, PolicyKind, Principal, PrincipalSpec,
};
use kmsaudit_model::*;

const KEY_ACCOUNT: &str = "111111111111";
const MEMBER: &str = "222222222222";
const OUTSIDER: &str = "444444444444";
/// A second member account and a second outside account: their roles are twins of the first
/// ones'.
const MEMBER2: &str = "333333333333";
const OUTSIDER2: &str = "555555555555";
const ORG: &str = "o-exampleorg";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111111111111:key/k1";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, in_ten: u64) -> bool {
        self.next() % 10 < in_ten
    }
}

const ACTIONS: &[&str] = &[
    "\"kms:*\"",
    "\"kms:Decrypt\"",
    "[\"kms:Encrypt\",\"kms:Decrypt\"]",
    "\"kms:Re*\"",
    "\"kms:PutKeyPolicy\"",
    "\"*\"",
];
const CONDITIONS: &[&str] = &[
    "",
    "",
    ",\"Condition\":{\"StringEquals\":{\"kms:ViaService\":\"s3.us-east-1.amazonaws.com\"}}",
    ",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"o-exampleorg\"}}",
    ",\"Condition\":{\"StringNotEquals\":{\"aws:PrincipalAccount\":\"222222222222\"}}",
    ",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}",
    // Tells role A from its twin A2 (see `IDENTITIES`).
    ",\"Condition\":{\"ArnLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::111111111111:role/A\"}}",
];

fn statement(rng: &mut Rng, principal: Option<&str>, deny_odds: u64) -> String {
    let effect = if rng.chance(deny_odds) {
        "Deny"
    } else {
        "Allow"
    };
    let resource = rng.pick(&[
        "\"*\"",
        "\"arn:aws:kms:*:111111111111:key/*\"",
        "\"arn:aws:kms:*:999999999999:key/*\"",
        "\"arn:aws:kms:*:111111111111:key/twin\"",
        "\"arn:aws:kms:us-east-1:111111111111:key/*\"",
    ]);
    let principal = principal
        .map(|p| format!(",\"Principal\":{p}"))
        .unwrap_or_default();
    format!(
        "{{\"Effect\":\"{effect}\"{principal},\"Action\":{},\"Resource\":{resource}{}}}",
        rng.pick(ACTIONS),
        rng.pick(CONDITIONS)
    )
}

fn document(statements: Vec<String>) -> String {
    format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{}]}}",
        statements.join(",")
    )
}

/// `role/A2` holds the same policies and boundary as `role/A`, and the `B2` and `C2` roles of
/// other accounts as `B` and `C` (identities alike are decided once, unless something tells
/// them apart).
const IDENTITIES: &[(&str, &str)] = &[
    (KEY_ACCOUNT, "arn:aws:iam::111111111111:role/A"),
    (KEY_ACCOUNT, "arn:aws:iam::111111111111:role/A2"),
    (KEY_ACCOUNT, "arn:aws:iam::111111111111:user/u"),
    (MEMBER, "arn:aws:iam::222222222222:role/B"),
    (MEMBER2, "arn:aws:iam::333333333333:role/B2"),
    (OUTSIDER, "arn:aws:iam::444444444444:role/C"),
    (OUTSIDER2, "arn:aws:iam::555555555555:role/C2"),
];

/// The identity a twin copies.
fn twin_of(arn: &str) -> Option<&'static str> {
    match arn {
        "arn:aws:iam::111111111111:role/A2" => Some("arn:aws:iam::111111111111:role/A"),
        "arn:aws:iam::333333333333:role/B2" => Some("arn:aws:iam::222222222222:role/B"),
        "arn:aws:iam::555555555555:role/C2" => Some("arn:aws:iam::444444444444:role/C"),
        _ => None,
    }
}

fn is_outsider(account: &str) -> bool {
    account == OUTSIDER || account == OUTSIDER2
}

struct Org {
    snapshot: Snapshot,
    key_policy: Policy,
    identity: BTreeMap<&'static str, Vec<Policy>>,
    boundary: BTreeMap<&'static str, Policy>,
    scps: Vec<Policy>,
    rcps: Vec<Policy>,
    grants: Vec<(String, String, bool)>,
}

fn generate(rng: &mut Rng) -> Org {
    let key_principals = [
        "{\"AWS\":\"arn:aws:iam::111111111111:root\"}",
        "{\"AWS\":\"222222222222\"}",
        "{\"AWS\":\"arn:aws:iam::111111111111:role/A\"}",
        "{\"AWS\":\"arn:aws:iam::444444444444:role/C\"}",
        "\"*\"",
    ];
    let n = 1 + rng.next() % 3;
    let key_doc = document(
        (0..n)
            .map(|_| {
                let p = rng.pick(&key_principals);
                statement(rng, Some(p), 2)
            })
            .collect(),
    );
    let mut identity = BTreeMap::new();
    let mut boundary = BTreeMap::new();
    let mut accounts: BTreeMap<&str, Vec<IamPrincipal>> = BTreeMap::new();
    let mut drawn: BTreeMap<&str, (Vec<String>, Option<String>)> = BTreeMap::new();
    for (account, arn) in IDENTITIES {
        let twin = twin_of(arn);
        let (docs, bound): (Vec<String>, Option<String>) = if let Some(of) = twin {
            drawn[of].clone()
        } else {
            let docs = (0..rng.next() % 3)
                .map(|_| document(vec![statement(rng, None, 2)]))
                .collect();
            let bound = rng
                .chance(2)
                .then(|| document(vec![statement(rng, None, 0)]));
            (docs, bound)
        };
        drawn.insert(arn, (docs.clone(), bound.clone()));
        identity.insert(
            *arn,
            docs.iter()
                .map(|d| parse_policy_as(d, PolicyKind::Identity).unwrap())
                .collect(),
        );
        let boundary_arn = bound.as_ref().map(|_| {
            format!(
                "arn:aws:iam::{account}:policy/b-{}",
                arn.rsplit('/').next().unwrap().trim_end_matches('2')
            )
        });
        if let Some(b) = &bound {
            boundary.insert(*arn, parse_policy_as(b, PolicyKind::Identity).unwrap());
        }
        let entry = accounts.entry(account).or_default();
        entry.push(IamPrincipal {
            arn: arn.to_string(),
            kind: if arn.contains(":user/") {
                IamPrincipalKind::User
            } else {
                IamPrincipalKind::Role
            },
            inline_policies: docs
                .iter()
                .enumerate()
                .map(|(i, d)| InlinePolicy {
                    name: format!("p{i}"),
                    document: Arc::from(d.as_str()),
                })
                .collect(),
            attached_policies: vec![],
            groups: vec![],
            boundary: boundary_arn.clone(),
            trust_policy: None,
        });
        // A twin in its original's account shares its boundary policy.
        let shared = twin.is_some_and(|of| of.contains(account));
        if let (Some(b), Some(barn), false) = (bound, boundary_arn, shared) {
            BOUNDARIES.with(|m| m.borrow_mut().push((account.to_string(), barn, b)));
        }
    }
    let scp_docs: Vec<String> = (0..rng.next() % 2)
        .map(|_| document(vec![statement(rng, None, 8)]))
        .collect();
    let rcp_docs: Vec<String> = (0..rng.next() % 2)
        .map(|_| document(vec![statement(rng, Some("\"*\""), 8)]))
        .collect();
    let grants: Vec<(String, String, bool)> = (0..rng.next() % 2)
        .map(|_| {
            (
                rng.pick(&IDENTITIES.iter().map(|(_, a)| *a).collect::<Vec<_>>())
                    .to_string(),
                rng.pick(&["Decrypt", "Encrypt"]).to_string(),
                rng.chance(3),
            )
        })
        .collect();
    let boundaries = BOUNDARIES.with(|m| std::mem::take(&mut *m.borrow_mut()));
    let mut key = kmsaudit_model::fixtures::customer_key(KEY_ARN);
    key.policy = Some(Arc::from(key_doc.as_str()));
    key.grants = Some(
        grants
            .iter()
            .enumerate()
            .map(|(i, (grantee, op, constrained))| Grant {
                grant_id: format!("g{i}"),
                grantee_principal: Some(grantee.clone()),
                operations: vec![op.clone()],
                constraints: constrained.then(|| GrantConstraints {
                    encryption_context_subset: BTreeMap::from([("app".into(), "x".into())]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
    );
    let mut policies = vec![OrgPolicy {
        id: "p-full".into(),
        name: "FullAWSAccess".into(),
        kind: OrgPolicyKind::ServiceControlPolicy,
        document: Arc::from(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        ),
        targets: vec![
            "r-root".into(),
            KEY_ACCOUNT.into(),
            MEMBER.into(),
            MEMBER2.into(),
        ],
    }];
    for (i, d) in scp_docs.iter().enumerate() {
        policies.push(OrgPolicy {
            id: format!("p-scp{i}"),
            name: format!("scp{i}"),
            kind: OrgPolicyKind::ServiceControlPolicy,
            document: Arc::from(d.as_str()),
            targets: vec!["r-root".into()],
        });
    }
    for (i, d) in rcp_docs.iter().enumerate() {
        policies.push(OrgPolicy {
            id: format!("p-rcp{i}"),
            name: format!("rcp{i}"),
            kind: OrgPolicyKind::ResourceControlPolicy,
            document: Arc::from(d.as_str()),
            targets: vec!["r-root".into()],
        });
    }
    let record = |id: &str, principals: Vec<IamPrincipal>, keys: Vec<KeyRecord>, member: bool| {
        let managed = boundaries
            .iter()
            .filter(|(a, _, _)| a == id)
            .map(|(_, arn, doc)| ManagedPolicy {
                arn: arn.clone(),
                name: "b".into(),
                document: Arc::from(doc.as_str()),
            })
            .collect();
        let iam = IamRecord {
            principals,
            managed_policies: managed,
            ..Default::default()
        };
        fixtures::scanned_account(id, member, keys, Some(iam))
    };
    let snapshot = Snapshot {
        schema_version: SCHEMA_VERSION,
        metadata: ScanMetadata {
            started_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            finished_at: "2026-12-01T00:01:00Z".parse().unwrap(),
            ..Default::default()
        },
        organization: Some(Organization {
            id: ORG.into(),
            management_account_id: "999999999999".into(),
            policies: Some(OrgPolicies {
                root_id: "r-root".into(),
                enabled: vec![
                    OrgPolicyKind::ServiceControlPolicy,
                    OrgPolicyKind::ResourceControlPolicy,
                ],
                parents: BTreeMap::from([
                    (KEY_ACCOUNT.to_string(), "r-root".to_string()),
                    (MEMBER.to_string(), "r-root".to_string()),
                    (MEMBER2.to_string(), "r-root".to_string()),
                ]),
                policies,
                errors: vec![],
            }),
            ..Default::default()
        }),
        accounts: vec![
            record(
                KEY_ACCOUNT,
                accounts.remove(KEY_ACCOUNT).unwrap_or_default(),
                vec![key],
                true,
            ),
            record(
                MEMBER,
                accounts.remove(MEMBER).unwrap_or_default(),
                vec![],
                true,
            ),
            record(
                MEMBER2,
                accounts.remove(MEMBER2).unwrap_or_default(),
                vec![],
                true,
            ),
            record(
                OUTSIDER,
                accounts.remove(OUTSIDER).unwrap_or_default(),
                vec![],
                false,
            ),
            record(
                OUTSIDER2,
                accounts.remove(OUTSIDER2).unwrap_or_default(),
                vec![],
                false,
            ),
        ],
        aws_managed_policies: vec![],
    };
    Org {
        snapshot,
        key_policy: parse_policy(&key_doc).unwrap(),
        identity,
        boundary,
        scps: scp_docs
            .iter()
            .map(|d| parse_policy_as(d, PolicyKind::Identity).unwrap())
            .collect(),
        rcps: rcp_docs.iter().map(|d| parse_policy(d).unwrap()).collect(),
        grants,
    }
}

thread_local! {
    static BOUNDARIES: std::cell::RefCell<Vec<(String, String, String)>> = Default::default();
}

/// The key policy with account principals removed from its Allow statements: what it grants an
/// identity by naming it (or `*`), not by delegating to its account.
fn direct_only(policy: &Policy) -> Policy {
    let mut p = policy.clone();
    for st in p
        .statements
        .iter_mut()
        .filter(|s| s.effect == Effect::Allow)
    {
        if let PrincipalSpec::Principal(list) = &mut st.principals {
            list.retain(|x| !matches!(x, Principal::Account(_)));
        }
    }
    p
}

/// IAM's decision for one concrete request, every layer composed as documented.
fn concrete(org: &Org, arn: &str, account: &str, action: &str, extra: &[(&str, &str)]) -> bool {
    let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        context.insert(k.into(), vec![v.into()]);
    };
    set("aws:principalarn", arn);
    set("aws:principalaccount", account);
    set("kms:calleraccount", account);
    set("aws:resourceaccount", KEY_ACCOUNT);
    set("aws:resourceorgid", ORG);
    set("aws:securetransport", "true");
    set("aws:principalisawsservice", "false");
    if !is_outsider(account) {
        set("aws:principalorgid", ORG);
    }
    for (k, v) in extra {
        set(k, v);
    }
    let request = Request {
        caller: Caller::Iam {
            arn: arn.into(),
            account: account.into(),
        },
        action: action.into(),
        context,
    };
    let d = |p: &Policy| decide(p, KEY_ARN, &request);
    let denied = |p: &Policy| d(p) == Decision::ExplicitDeny;
    let member = !is_outsider(account);
    let identity = &org.identity[arn];
    let mut deny = denied(&org.key_policy) || identity.iter().any(denied);
    let mut id_allow = identity.iter().any(|p| d(p) == Decision::Allow);
    if let Some(b) = org.boundary.get(arn) {
        deny |= denied(b);
        id_allow &= d(b) == Decision::Allow;
    }
    let full = d(&org.key_policy) == Decision::Allow;
    let direct = d(&direct_only(&org.key_policy)) == Decision::Allow;
    let mut allow = if account == KEY_ACCOUNT {
        direct || (full && id_allow)
    } else {
        full && id_allow
    };
    let op = action.trim_start_matches("kms:");
    let context_matches = extra.iter().any(|(k, _)| *k == "grant-context");
    allow |= org
        .grants
        .iter()
        .any(|(g, o, constrained)| g == arn && o == op && (!constrained || context_matches));
    if member {
        deny |= org.scps.iter().any(denied);
    }
    deny |= org.rcps.iter().any(denied);
    allow && !deny
}

const CONTEXTS: &[&[(&str, &str)]] = &[
    &[],
    &[("kms:viaservice", "s3.us-east-1.amazonaws.com")],
    &[("aws:sourceip", "10.1.2.3")],
    &[("grant-context", "yes")],
    &[
        ("kms:viaservice", "s3.us-east-1.amazonaws.com"),
        ("aws:sourceip", "10.1.2.3"),
        ("grant-context", "yes"),
    ],
];

fn check(cases: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut failures = vec![];
    let mut allowed_seen = 0;
    for case in 0..cases {
        let org = generate(&mut rng);
        let rows = effective_access(&org.snapshot).to_rows();
        for (account, arn) in IDENTITIES {
            for cap in Capability::ALL {
                let row = rows
                    .iter()
                    .find(|r| r.principal == *arn && r.capability == cap);
                let per_context: Vec<bool> = CONTEXTS
                    .iter()
                    .map(|c| {
                        cap.actions()
                            .iter()
                            .any(|a| concrete(&org, arn, account, a, c))
                    })
                    .collect();
                let any = per_context.iter().any(|x| *x);
                let all = per_context.iter().all(|x| *x);
                match row.map(|r| r.verdict) {
                    None if any => failures.push(format!(
                        "case {case}: {arn} {} allowed by the reference, missing from the analysis\n  key policy: {:?}",
                        cap.as_str(),
                        org.snapshot.accounts[0].regions[0].keys[0].policy
                    )),
                    Some(AccessVerdict::Allowed) if !all => failures.push(format!(
                        "case {case}: {arn} {} reported allowed, refused by the reference in some context\n  key policy: {:?}",
                        cap.as_str(),
                        org.snapshot.accounts[0].regions[0].keys[0].policy
                    )),
                    Some(AccessVerdict::Allowed) => allowed_seen += 1,
                    _ => {}
                }
            }
        }
        if failures.len() > 5 {
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        allowed_seen > cases / 4,
        "the generator must produce access: {allowed_seen}"
    );
}

#[test]
fn effective_access_is_sound_on_generated_organizations() {
    let cases = std::env::var("KMSAUDIT_EFFECTIVE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    check(cases, 21);
}

/// Keys alike are worked out once (see `effective::classes`): a twin of the generated key
/// (same account and policy, in the same region or another; its grants, or none) whose ARN some
/// Resource patterns name and others do not gets, in one snapshot, exactly the rows it gets
/// scanned alone.
#[test]
fn keys_alike_share_their_analysis_and_keys_unlike_do_not() {
    let mut rng = Rng(77);
    let mut differed = 0;
    for case in 0..300 {
        let mut org = generate(&mut rng);
        let original = org.snapshot.accounts[0].regions[0].keys[0].clone();
        let mut twin = original.clone();
        // Keys alike share everyone's answers but their grantees'.
        if case % 2 == 1 {
            twin.grants = Some(vec![]);
        }
        let region = if case % 4 < 2 {
            "us-east-1"
        } else {
            "eu-west-1"
        };
        let twin_arn = format!("arn:aws:kms:{region}:111111111111:key/twin");
        twin.arn = twin_arn.clone();
        if let Some(m) = twin.metadata.as_mut() {
            m.arn = twin_arn.clone();
        }
        let alone = |key: &KeyRecord| {
            let mut one = org.snapshot.clone();
            one.accounts[0].regions[0].keys = vec![key.clone()];
            effective_access(&one).to_rows()
        };
        let (first, second) = (alone(&original), alone(&twin));
        org.snapshot.accounts[0].regions[0].keys.push(twin);
        let both = effective_access(&org.snapshot).to_rows();
        let of = |arn: &str| -> Vec<AccessRow> {
            both.iter().filter(|r| r.key_arn == arn).cloned().collect()
        };
        assert_eq!(of(KEY_ARN), first, "case {case}: the first key");
        assert_eq!(of(&twin_arn), second, "case {case}: the twin");
        let strip = |rows: &[AccessRow]| -> Vec<(String, Capability, AccessVerdict)> {
            rows.iter()
                .map(|r| (r.principal.clone(), r.capability, r.verdict))
                .collect()
        };
        differed += usize::from(strip(&first) != strip(&second));
    }
    assert!(
        differed > 5,
        "the generator must tell the twins apart: {differed}"
    );
}

/// Identities alike are decided once (see `effective::shapes`): each twin, in its original's
/// account or another, gets in one snapshot exactly the rows it gets with its original removed.
#[test]
fn identities_alike_share_their_answers_and_identities_unlike_do_not() {
    let mut rng = Rng(91);
    let mut differed = 0;
    for case in 0..200 {
        let org = generate(&mut rng);
        let together = effective_access(&org.snapshot).to_rows();
        for (_, twin) in IDENTITIES {
            let Some(original) = twin_of(twin) else {
                continue;
            };
            let mut without = org.snapshot.clone();
            for a in &mut without.accounts {
                if let Some(iam) = a.iam.as_mut() {
                    iam.principals.retain(|p| p.arn != original);
                }
            }
            let alone = effective_access(&without).to_rows();
            let of = |rows: &[AccessRow],
                      arn: &str|
             -> Vec<(Capability, AccessVerdict, String, Vec<String>)> {
                rows.iter()
                    .filter(|r| r.principal == arn)
                    .map(|r| (r.capability, r.verdict, r.via.clone(), r.conditions.clone()))
                    .collect()
            };
            assert_eq!(
                of(&together, twin),
                of(&alone, twin),
                "case {case}: {twin} beside {original}"
            );
            let verdicts = |arn: &str| -> Vec<(Capability, AccessVerdict)> {
                of(&together, arn).into_iter().map(|r| (r.0, r.1)).collect()
            };
            differed += usize::from(verdicts(twin) != verdicts(original));
        }
    }
    assert!(
        differed > 5,
        "the generator must tell the twins apart: {differed}"
    );
}
