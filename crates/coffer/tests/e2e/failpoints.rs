//! Driving a server's failpoints (a build with the `failpoints` feature): arm and disarm them
//! while it runs, and know when it stands parked at one.

use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};

use crate::common::*;

/// Makes `config` (`name=action;...`, empty for none) the server's failpoints and returns
/// once the server says it applied them.
pub fn set_failpoints(server: &Server, config: &str) {
    let path = server.failpoints_file();
    let staged = path.with_extension("staged");
    std::fs::write(&staged, config).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let applied = path.with_extension("applied");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&applied).ok().as_deref() != Some(config) {
        assert!(
            Instant::now() < deadline,
            "the server did not apply failpoints {config:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Clears the failpoints of a stopped server, so its restart runs without them.
pub fn clear_failpoints_offline(server: &Server) {
    std::fs::write(server.failpoints_file(), "").unwrap();
}

/// Waits until the server parks at failpoint `name` (armed with `return(park)`).
pub async fn wait_parked(server: &Server, name: &str) {
    let marker = server.dir.path().join(format!("reached-{name}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "the server never reached failpoint {name}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    std::fs::remove_file(&marker).unwrap();
}

/// An S3 client that does not retry, so a test sees the first answer to each request.
pub fn no_retry_client(server: &Server) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .http_client(plain_http_client())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ALICE.1, ALICE.2, None, None, "test"))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A KMS client that does not retry.
pub fn no_retry_kms(server: &Server) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .http_client(plain_http_client())
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ALICE.1, ALICE.2, None, None, "test"))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}
