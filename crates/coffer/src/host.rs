//! Virtual-hosted-style addressing: `<bucket>.localhost[:port]` names a bucket; any other
//! host name is path-style. (`s3s` itself treats IP-address hosts as path-style.)

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// Host names under which a leading label is a bucket.
const BASE_DOMAINS: [&str; 2] = ["localhost", "s3.localhost"];

#[derive(Debug, Default)]
pub struct LocalVirtualHosts;

impl S3Host for LocalVirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        // The longest base domain wins, so `b.s3.localhost` is bucket `b`, not `b.s3`.
        for base in BASE_DOMAINS.iter().rev() {
            if name == *base {
                return Ok(VirtualHost::new(name));
            }
            if let Some(bucket) = name
                .strip_suffix(base)
                .and_then(|rest| rest.strip_suffix('.'))
                .filter(|b| !b.is_empty())
            {
                return Ok(VirtualHost::new(*base).with_bucket(bucket));
            }
        }
        Ok(VirtualHost::new(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_comes_from_the_leading_labels() {
        let h = LocalVirtualHosts;
        assert_eq!(
            h.parse_host_header("photos.localhost:9000")
                .unwrap()
                .bucket(),
            Some("photos")
        );
        assert_eq!(
            h.parse_host_header("a.b.s3.localhost").unwrap().bucket(),
            Some("a.b")
        );
        assert_eq!(
            h.parse_host_header("localhost:9000").unwrap().bucket(),
            None
        );
        assert_eq!(h.parse_host_header("example.com").unwrap().bucket(), None);
    }
}
