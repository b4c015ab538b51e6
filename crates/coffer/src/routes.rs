//! Requests served beside `s3s`'s typed operations, after its signature check: the admin API,
//! bucket encryption PUT/GET (whose current XML s3s 0.14's model cannot parse), and
//! UpdateObjectEncryption (newer than that model).

use http::{HeaderMap, Method, Uri};
use s3s::host::S3Host;
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result};

use crate::admin_ops::ADMIN_HEADER;
use crate::admin_route::AdminRoute;
use crate::host::LocalVirtualHosts;

pub struct Routes {
    pub admin: AdminRoute,
}

/// Which route matched, remembered from `is_match` for `check_access` and `call`.
#[derive(Clone)]
enum Matched {
    Admin,
    BucketEncryption(String),
    ObjectEncryption(String, String),
}

/// `PUT|GET /<bucket>?encryption` (path-style or virtual-hosted): the bucket it names.
fn bucket_encryption_target(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if method != Method::PUT && method != Method::GET {
        return None;
    }
    match encryption_target(uri, headers)? {
        (bucket, None) => Some(bucket),
        (_, Some(_)) => None,
    }
}

/// `PUT /<bucket>/<key>?encryption`: the object it names.
fn object_encryption_target(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<(String, String)> {
    if method != Method::PUT {
        return None;
    }
    match encryption_target(uri, headers)? {
        (bucket, Some(key)) => Some((bucket, key)),
        (_, None) => None,
    }
}

/// The bucket, and the object key if any, of a `?encryption` request.
fn encryption_target(uri: &Uri, headers: &HeaderMap) -> Option<(String, Option<String>)> {
    let query = uri.query()?;
    if !query
        .split('&')
        .any(|kv| kv == "encryption" || kv.starts_with("encryption="))
    {
        return None;
    }
    let hosted = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            LocalVirtualHosts
                .parse_host_header(h)
                .ok()
                .and_then(|v| v.bucket().map(str::to_owned))
        });
    let decode = |k: &str| {
        percent_encoding::percent_decode_str(k)
            .decode_utf8()
            .ok()
            .map(|k| k.into_owned())
    };
    let path = uri.path().strip_prefix('/')?;
    match hosted {
        Some(bucket) if path.is_empty() => Some((bucket, None)),
        Some(bucket) => Some((bucket, Some(decode(path)?))),
        None => match path.split_once('/') {
            None => (!path.is_empty()).then(|| (path.to_owned(), None)),
            Some((bucket, "")) => Some((bucket.to_owned(), None)),
            Some((bucket, key)) => Some((bucket.to_owned(), Some(decode(key)?))),
        },
    }
}

#[async_trait::async_trait]
impl S3Route for Routes {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        extensions: &mut http::Extensions,
    ) -> bool {
        let matched =
            if method == Method::POST && uri.path() == "/" && headers.contains_key(ADMIN_HEADER) {
                Some(Matched::Admin)
            } else if let Some((bucket, key)) = object_encryption_target(method, uri, headers) {
                Some(Matched::ObjectEncryption(bucket, key))
            } else {
                bucket_encryption_target(method, uri, headers).map(Matched::BucketEncryption)
            };
        let hit = matched.is_some();
        if let Some(m) = matched {
            extensions.insert(m);
        }
        hit
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        coffer_s3::check_presigned_lifetime(&req.uri)?;
        coffer_s3::refuse_empty_content_md5(&req.headers)?;
        match req.extensions.get::<Matched>() {
            Some(Matched::Admin) => self.admin.check_access(req).await,
            _ => match req.credentials {
                Some(_) => Ok(()),
                None => Err(s3s::s3_error!(AccessDenied, "Access Denied")),
            },
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        match req.extensions.get::<Matched>().cloned() {
            Some(Matched::ObjectEncryption(bucket, key)) => {
                self.admin
                    .target
                    .s3
                    .update_object_encryption(req, &bucket, &key)
                    .await
            }
            Some(Matched::BucketEncryption(bucket)) if req.method == Method::PUT => {
                self.admin
                    .target
                    .s3
                    .put_bucket_encryption(req, &bucket)
                    .await
            }
            Some(Matched::BucketEncryption(bucket)) => {
                self.admin
                    .target
                    .s3
                    .get_bucket_encryption(req, &bucket)
                    .await
            }
            _ => self.admin.call(req).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: Method, uri: &str, host: &str) -> Option<String> {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, host.parse().unwrap());
        bucket_encryption_target(&method, &uri.parse().unwrap(), &h)
    }

    #[test]
    fn only_bucket_level_encryption_requests_match() {
        assert_eq!(
            target(Method::PUT, "/b?encryption", "127.0.0.1:9000").as_deref(),
            Some("b")
        );
        assert_eq!(
            target(Method::GET, "/?encryption=", "b.localhost:9000").as_deref(),
            Some("b")
        );
        assert_eq!(target(Method::GET, "/b/key?encryption", "127.0.0.1"), None);
        assert_eq!(target(Method::DELETE, "/b?encryption", "127.0.0.1"), None);
        assert_eq!(target(Method::GET, "/b?encryptionx", "127.0.0.1"), None);
        assert_eq!(target(Method::GET, "/b", "127.0.0.1"), None);
    }
}
