//! What a rule answers: an [`Outcome`] (status, message, evidence) for one resource, and for
//! policy rules the [`Offense`]s (statement × principal) behind it.

use std::sync::Arc;

use kmsaudit_model::{Evidence, Severity, Status};

use crate::policy::Access;

/// One offending statement × principal of a policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offense {
    pub statement_index: Option<usize>,
    pub sid: Option<String>,
    pub principal: Option<String>,
    pub actions: Vec<String>,
    pub condition: Option<String>,
    /// One human sentence.
    pub explanation: String,
}

impl Offense {
    pub(crate) fn from_access(a: &Access, explanation: String) -> Offense {
        Offense {
            statement_index: Some(a.statement_index),
            sid: a.sid.clone(),
            principal: Some(a.who.describe()),
            actions: a.actions.evidence_names(),
            condition: a.condition_text(),
            explanation,
        }
    }
}

/// A rule's verdict on one resource, before it becomes a `Finding`. Message and evidence are
/// shared: a cached policy verdict goes to every key with that policy without a copy.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: Status,
    pub message: Arc<str>,
    pub evidence: Arc<Evidence>,
    /// Some rules raise their severity for the worse case they found.
    pub severity: Option<Severity>,
}

impl Outcome {
    pub fn pass(message: impl Into<Arc<str>>) -> Outcome {
        Outcome {
            status: Status::Pass,
            message: message.into(),
            evidence: Arc::default(),
            severity: None,
        }
    }
    pub fn fail(message: impl Into<Arc<str>>, evidence: Evidence) -> Outcome {
        Outcome {
            status: Status::Fail,
            message: message.into(),
            evidence: Arc::new(evidence),
            severity: None,
        }
    }
    pub fn not_applicable(message: impl Into<Arc<str>>) -> Outcome {
        Outcome {
            status: Status::NotApplicable,
            message: message.into(),
            evidence: Arc::default(),
            severity: None,
        }
    }
    pub fn not_assessed(message: impl Into<Arc<str>>) -> Outcome {
        Outcome {
            status: Status::NotAssessed,
            message: message.into(),
            evidence: Arc::default(),
            severity: None,
        }
    }
    pub fn with_evidence(mut self, evidence: Evidence) -> Outcome {
        self.evidence = Arc::new(evidence);
        self
    }

    /// PASS when there is no offense, else FAIL led by the first offense.
    pub fn from_offenses(offenses: &[Offense], pass_message: &str) -> Outcome {
        let Some(first) = offenses.first() else {
            return Outcome::pass(pass_message);
        };
        let message: Arc<str> = if offenses.len() > 1 {
            format!("{} (and {} more)", first.explanation, offenses.len() - 1).into()
        } else {
            first.explanation.as_str().into()
        };
        let evidence = Evidence {
            statement_index: first.statement_index,
            sid: first.sid.clone(),
            principal: first.principal.clone(),
            actions: first.actions.clone(),
            condition: first.condition.clone(),
            details: Default::default(),
        };
        Outcome::fail(message, evidence)
    }
}

/// A policy rule's answer: offenses, or "does not apply" (e.g. no allowlist configured).
pub(crate) enum PolicyVerdict {
    Offenses(Vec<Offense>, &'static str),
    NotApplicable(String),
}

impl PolicyVerdict {
    pub fn into_outcome(self) -> Outcome {
        match self {
            PolicyVerdict::Offenses(o, pass) => Outcome::from_offenses(&o, pass),
            PolicyVerdict::NotApplicable(why) => Outcome::not_applicable(why),
        }
    }
}
