//! S3 client construction and bucket setup.

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::args::Args;
use crate::errors::describe;
use crate::http_client::Hyper;

/// Builds a path-style client for `endpoint` with static credentials, sending through
/// `http` (whose HTTP version `--http2` chose).
///
/// Retries are disabled so every failed request shows up in the error count and the
/// latency figures are those of single attempts.
pub fn client(args: &Args, endpoint: &str, http: &Hyper) -> Result<Client, String> {
    let credentials = Credentials::new(
        &args.access_key,
        &args.secret_key,
        None,
        None,
        "coffer-bench",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(args.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .http_client(http.shared());
    Ok(Client::from_conf(config.build()))
}

/// Creates `bucket`, or uses it if the caller already owns it. Returns whether it was created.
pub async fn ensure_bucket(client: &Client, bucket: &str, region: &str) -> Result<bool, String> {
    let mut req = client.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_bucket_already_owned_by_you()) =>
        {
            Ok(false)
        }
        Err(e) => Err(format!("cannot create bucket {bucket}: {}", describe(&e))),
    }
}

/// Lets a bucket this run created accept SSE-C writes (new buckets block them, as on AWS
/// since April 2026). An existing bucket is left as its owner configured it.
pub async fn allow_sse_c(client: &Client, bucket: &str) -> Result<(), String> {
    use aws_sdk_s3::types::{
        BlockedEncryptionTypes, EncryptionType, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(|e| e.to_string())?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .blocked_encryption_types(
            BlockedEncryptionTypes::builder()
                .encryption_type(EncryptionType::None)
                .build(),
        )
        .build();
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| e.to_string())?;
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot allow SSE-C on bucket {bucket}: {}", describe(&e)))
}
