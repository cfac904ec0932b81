//! Counts every AWS call attempt per operation, and the calls that ended in an error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Shared by every client of a scan; cloned into each client's interceptors.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    attempts: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

fn operation(cfg: &ConfigBag) -> String {
    match cfg.load::<Metadata>() {
        Some(m) => format!("{}.{}", service_label(m.service()), m.name()),
        None => "unknown".to_string(),
    }
}

/// `kms` → `KMS`, `accessanalyzer` → `AccessAnalyzer`, `Resource Groups Tagging API` →
/// `Tagging`: the labels the snapshot uses (the same as its recorded errors').
fn service_label(service: &str) -> &str {
    match service.to_ascii_lowercase().as_str() {
        "kms" => "KMS",
        "sts" => "STS",
        "organizations" => "Organizations",
        "accessanalyzer" => "AccessAnalyzer",
        "resource groups tagging api" => "Tagging",
        _ => service,
    }
}

impl CallCounter {
    /// (attempts per operation, failed calls per operation).
    pub fn snapshot(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let c = self.inner.lock().expect("counter lock");
        (c.attempts.clone(), c.errors.clone())
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "kmsaudit::CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = operation(cfg);
        *self
            .inner
            .lock()
            .expect("counter lock")
            .attempts
            .entry(op)
            .or_insert(0) += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if matches!(context.output_or_error(), Some(Err(_))) {
            let op = operation(cfg);
            *self
                .inner
                .lock()
                .expect("counter lock")
                .errors
                .entry(op)
                .or_insert(0) += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn services_get_the_snapshots_labels() {
        assert_eq!(super::service_label("KMS"), "KMS");
        assert_eq!(super::service_label("AccessAnalyzer"), "AccessAnalyzer");
        assert_eq!(
            super::service_label("Resource Groups Tagging API"),
            "Tagging"
        );
        assert_eq!(super::service_label("Account"), "Account");
    }
}
