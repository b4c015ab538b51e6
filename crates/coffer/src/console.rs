//! The web console's wiring: who may sign in (the configured users) and what it reads of this
//! process (its Prometheus text). The console itself is `coffer-console`.

use std::sync::Arc;

use coffer_console::{Console, Directory, Identity};
use coffer_s3::UserDirectory;
use metrics_exporter_prometheus::PrometheusHandle;
use zeroize::Zeroizing;

struct Users(UserDirectory);

impl Directory for Users {
    fn lookup(&self, access_key: &str) -> Option<Identity> {
        self.0.by_access_key(access_key).map(|u| Identity {
            name: u.name.clone(),
            secret: Zeroizing::new(u.expose_secret().to_owned()),
        })
    }
}

pub fn build(users: UserDirectory, region: String, metrics: PrometheusHandle) -> Arc<Console> {
    Arc::new(Console::new(
        Arc::new(Users(users)),
        region,
        Arc::new(move || {
            crate::process_metrics::record();
            metrics.render()
        }),
    ))
}
