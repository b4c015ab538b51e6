//! ListObjects (v1), ListObjectsV2 and ListObjectVersions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use coffer_store::{ListControl, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::checksum::Algorithm;
use crate::error::OrS3;
use crate::object::{timestamp, url_encode};
use crate::requester::Requester;
use crate::service::CofferS3;

const MAX_KEYS: i32 = 1000;

/// One page of a listing: objects and common prefixes, in key order.
struct Page {
    objects: Vec<(String, ObjectRecord)>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key or common prefix on the page: where the next page starts after.
    last: Option<String>,
}

/// What a listing request asks, whichever of the three calls it came as.
struct Asked<'a> {
    bucket: &'a str,
    prefix: Option<&'a str>,
    delimiter: Option<&'a str>,
    max_keys: Option<i32>,
    encoding: Option<&'a EncodingType>,
}

/// The [`Asked`] of any of the three inputs: they name these fields alike.
macro_rules! asked {
    ($input:expr) => {
        Asked {
            bucket: &$input.bucket,
            prefix: $input.prefix.as_deref(),
            delimiter: $input.delimiter.as_deref(),
            max_keys: $input.max_keys,
            encoding: $input.encoding_type.as_ref(),
        }
    };
}

/// A page, with what its answer repeats back: the encoding, max-keys, prefix and where the
/// page began (the marker, start-after or token's key).
struct Listing {
    enc: Encoder,
    max: usize,
    prefix: String,
    after: String,
    page: Page,
}

impl Listing {
    /// The page's common prefixes, encoded as asked.
    fn common_prefixes(&self) -> Vec<CommonPrefix> {
        self.page
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(self.enc.apply(p.clone())),
            })
            .collect()
    }

    /// Where the next page starts, for a truncated page (v1's NextMarker, the versions'
    /// NextKeyMarker).
    fn next_marker(&self) -> Option<String> {
        self.page
            .truncated
            .then(|| self.page.last.clone().map(|l| self.enc.apply(l)))
            .flatten()
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "Argument maxKeys must be an integer between 0 and 2147483647"
        )),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
        None => Ok(MAX_KEYS as usize),
    }
}

/// Percent-encodes when the client asked for `encoding-type=url`.
struct Encoder(bool);

impl Encoder {
    fn new(e: Option<&EncodingType>) -> S3Result<Self> {
        match e.map(|e| e.as_str()) {
            None => Ok(Encoder(false)),
            Some(s) if s.eq_ignore_ascii_case("url") => Ok(Encoder(true)),
            Some(_) => Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request"
            )),
        }
    }

    fn apply(&self, s: String) -> String {
        if self.0 { url_encode(&s) } else { s }
    }
}

impl CofferS3 {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: &str,
        max: usize,
    ) -> S3Result<Page> {
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let meta = self.meta.as_ref();
        {
            let mut page = Page {
                objects: Vec::new(),
                prefixes: Vec::new(),
                truncated: false,
                last: None,
            };
            if max == 0 {
                let mut any = false;
                meta.list_objects(bucket, prefix, after, &mut |_, _| {
                    any = true;
                    ListControl::Stop
                })
                .await
                .or_s3()?;
                page.truncated = any;
                return Ok(page);
            }
            // Keys a common prefix rolls up are skipped by seeking past them once this
            // many in a row were passed over: a folder of 100,000 keys costs one more store
            // query instead of a walk over all of them (and many small folders cost no
            // extra queries).
            const SEEK_AFTER: usize = 64;
            let mut cursor = after.to_owned();
            loop {
                let mut seek: Option<String> = None;
                let mut passed_over = 0usize;
                meta.list_objects(bucket, prefix, &cursor, &mut |key, record| {
                    let rolled_up = delimiter.and_then(|d| {
                        key[prefix.len()..]
                            .find(d)
                            .map(|i| key[..prefix.len() + i + d.len()].to_owned())
                    });
                    // A marker that is itself a common prefix (the last entry of the
                    // previous page) skips the keys it rolled up, as does a prefix just
                    // listed.
                    let repeat = rolled_up.as_deref() == Some(after)
                        || rolled_up.is_some() && page.prefixes.last() == rolled_up.as_ref();
                    if repeat {
                        passed_over += 1;
                        if passed_over >= SEEK_AFTER {
                            // Past every key that starts with the prefix but those with
                            // U+10FFFF right after it, which the check above still skips.
                            seek = rolled_up.map(|cp| format!("{cp}\u{10FFFF}"));
                            return ListControl::Stop;
                        }
                        return ListControl::Continue;
                    }
                    passed_over = 0;
                    if page.objects.len() + page.prefixes.len() == max {
                        page.truncated = true;
                        return ListControl::Stop;
                    }
                    match rolled_up {
                        Some(cp) => {
                            page.last = Some(cp.clone());
                            page.prefixes.push(cp);
                        }
                        None => {
                            page.last = Some(key.to_owned());
                            page.objects.push((key.to_owned(), record.clone()));
                        }
                    }
                    ListControl::Continue
                })
                .await
                .or_s3()?;
                match seek {
                    Some(next) => cursor = next,
                    None => break,
                }
            }
            Ok(page)
        }
    }

    fn object_entry(
        &self,
        key: String,
        record: &ObjectRecord,
        owner: Option<Owner>,
        enc: &Encoder,
    ) -> Object {
        Object {
            key: Some(enc.apply(key)),
            e_tag: Some(ETag::Strong(record.etag.clone())),
            last_modified: Some(timestamp(record.last_modified_ms)),
            size: Some(record.size as i64),
            storage_class: Some(ObjectStorageClass::from(
                record
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            )),
            checksum_algorithm: record.checksum.as_ref().and_then(|c| {
                Algorithm::parse(&c.algorithm)
                    .map(|a| vec![ChecksumAlgorithm::from(a.name().to_owned())])
            }),
            checksum_type: record
                .checksum
                .as_ref()
                .map(|c| ChecksumType::from(c.kind.clone())),
            owner,
            restore_status: None,
        }
    }

    /// What the three listings share, in the order S3 checks it: the caller may list the
    /// bucket (`s3:prefix` is the prefix asked for), the encoding and max-keys are valid, and
    /// `start` says where the page begins (a continuation token may be refused there). Then
    /// the page.
    async fn listing(
        &self,
        user: &Requester,
        action: &str,
        asked: Asked<'_>,
        start: impl FnOnce() -> S3Result<String>,
    ) -> S3Result<Listing> {
        self.bucket_for(
            &user.with("s3:prefix", asked.prefix),
            asked.bucket,
            action,
            None,
        )
        .await?;
        let enc = Encoder::new(asked.encoding)?;
        let max = max_keys(asked.max_keys)?;
        let prefix = asked.prefix.unwrap_or_default().to_owned();
        let after = start()?;
        let page = self
            .list_page(asked.bucket, &prefix, asked.delimiter, &after, max)
            .await?;
        Ok(Listing {
            enc,
            max,
            prefix,
            after,
            page,
        })
    }

    pub(crate) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let asked = asked!(input);
        let mut listing = self
            .listing(&user, "s3:ListBucket", asked, || {
                match &input.continuation_token {
                    Some(t) => TOKEN
                        .decode(t)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| {
                            s3_error!(
                                InvalidArgument,
                                "The continuation token provided is incorrect"
                            )
                        }),
                    None => Ok(input.start_after.clone().unwrap_or_default()),
                }
            })
            .await?;
        let owner = input
            .fetch_owner
            .unwrap_or(false)
            .then(|| self.owner(&user.name));
        let page = &listing.page;
        let key_count = (page.objects.len() + page.prefixes.len()) as i32;
        let next = page
            .truncated
            .then(|| page.last.as_ref().map(|l| TOKEN.encode(l)))
            .flatten();
        let enc = &listing.enc;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.apply(listing.prefix.clone())),
            max_keys: Some(listing.max as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.truncated),
            next_continuation_token: next,
            common_prefixes: Some(listing.common_prefixes()),
            contents: Some(self.objects(&mut listing, owner)),
            delimiter: input.delimiter.map(|d| listing.enc.apply(d)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| listing.enc.apply(s)),
            request_charged: None,
        }))
    }

    pub(crate) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let asked = asked!(input);
        let mut listing = self
            .listing(&user, "s3:ListBucket", asked, || {
                Ok(input.marker.clone().unwrap_or_default())
            })
            .await?;
        let owner = Some(self.owner(&user.name));
        let enc = &listing.enc;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.apply(listing.prefix.clone())),
            marker: Some(enc.apply(listing.after.clone())),
            max_keys: Some(listing.max as i32),
            is_truncated: Some(listing.page.truncated),
            next_marker: listing.next_marker(),
            common_prefixes: Some(listing.common_prefixes()),
            contents: Some(self.objects(&mut listing, owner)),
            delimiter: input.delimiter.map(|d| listing.enc.apply(d)),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }

    /// Buckets are unversioned: every object is its own only version, `null`, and latest.
    pub(crate) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let asked = asked!(input);
        let mut listing = self
            .listing(&user, "s3:ListBucketVersions", asked, || {
                Ok(input.key_marker.clone().unwrap_or_default())
            })
            .await?;
        let owner = Some(self.owner(&user.name));
        let next_key = listing.next_marker();
        let common_prefixes = listing.common_prefixes();
        let versions = self
            .objects(&mut listing, owner)
            .into_iter()
            .map(|o| ObjectVersion {
                checksum_algorithm: o.checksum_algorithm,
                checksum_type: o.checksum_type,
                e_tag: o.e_tag,
                is_latest: Some(true),
                key: o.key,
                last_modified: o.last_modified,
                owner: o.owner,
                restore_status: None,
                size: o.size,
                storage_class: Some(ObjectVersionStorageClass::from("STANDARD".to_owned())),
                version_id: Some("null".to_owned()),
            })
            .collect();
        let enc = &listing.enc;
        Ok(S3Response::new(ListObjectVersionsOutput {
            common_prefixes: Some(common_prefixes),
            delete_markers: None,
            delimiter: input.delimiter.map(|d| enc.apply(d)),
            encoding_type: input.encoding_type,
            is_truncated: Some(listing.page.truncated),
            key_marker: Some(enc.apply(listing.after.clone())),
            max_keys: Some(listing.max as i32),
            name: Some(input.bucket),
            next_version_id_marker: next_key.as_ref().map(|_| "null".to_owned()),
            next_key_marker: next_key,
            prefix: Some(enc.apply(listing.prefix.clone())),
            request_charged: None,
            version_id_marker: input.version_id_marker,
            versions: Some(versions),
        }))
    }

    /// The page's objects as a listing shows them, taken out of it.
    fn objects(&self, listing: &mut Listing, owner: Option<Owner>) -> Vec<Object> {
        std::mem::take(&mut listing.page.objects)
            .into_iter()
            .map(|(k, r)| self.object_entry(k, &r, owner.clone(), &listing.enc))
            .collect()
    }
}
