//! Object and bucket tags: the tagging operations, the `x-amz-tagging` header of writes and
//! the `tagging` field of a browser POST, S3's limits on a tag set, and the policy condition
//! keys that name tags (`s3:ExistingObjectTag/<key>`, `s3:RequestObjectTag/<key>`,
//! `s3:RequestObjectTagKeys`).
//!
//! Tags live in the object (or bucket) record, as user metadata does: S3 encrypts object
//! data, not its metadata or tags. An object keeps one tag set, replaced whole; Coffer has no
//! versioning, so `versionId` may only name the one version, `null`.

use coffer_store::{BucketRecord, Tags};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::error::{OrS3, access_denied, malformed_xml, no_such_key};
use crate::requester::Requester;
use crate::service::CofferS3;

/// "You can associate up to 10 tags with an object" (User Guide, object-tagging).
pub(crate) const MAX_OBJECT_TAGS: usize = 10;
/// "A tag set can contain as many as 50 tags, or it can be empty" (PutBucketTagging).
pub(crate) const MAX_BUCKET_TAGS: usize = 50;
/// Key and value lengths, counted as S3 counts them: "Amazon S3 object tags are internally
/// represented in UTF-16", so a character outside the BMP takes two positions.
const MAX_KEY_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 256;

fn invalid_tag(message: String) -> s3s::S3Error {
    s3_error!(InvalidTag, "{}", message)
}

/// S3's answer to an `x-amz-tagging` header that is not a query string of unique keys.
fn bad_header() -> s3s::S3Error {
    s3_error!(
        InvalidArgument,
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
    )
}

/// What a tag may hold: "Unicode letters or numbers, white space, and the following symbols:
/// _ . : / = + @ -" (the pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]` of AWS's tag references).
fn allowed(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '@' | '-')
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Checks one tag as S3 does (its `InvalidTag` messages).
fn check_tag(key: &str, value: &str) -> S3Result<()> {
    if key.is_empty() || !key.chars().all(allowed) {
        return Err(invalid_tag(
            "The TagKey you have provided is invalid".to_owned(),
        ));
    }
    if utf16_len(key) > MAX_KEY_LEN {
        return Err(invalid_tag(format!(
            "The TagKey you have provided is too long, max {MAX_KEY_LEN}"
        )));
    }
    if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
        return Err(invalid_tag(
            "Your TagKey cannot be prefixed with aws:".to_owned(),
        ));
    }
    if !value.chars().all(allowed) {
        return Err(invalid_tag(
            "The TagValue you have provided is invalid".to_owned(),
        ));
    }
    if utf16_len(value) > MAX_VALUE_LEN {
        return Err(invalid_tag(format!(
            "The TagValue you have provided is too long, max {MAX_VALUE_LEN}"
        )));
    }
    Ok(())
}

/// S3 answers too many tags with `BadRequest`, not `InvalidTag`: "BadRequest: Object tags
/// cannot be greater than 10" (PutObject and PutObjectTagging), "Bucket tag count cannot be
/// greater than 50".
fn check_count(n: usize, max: usize) -> S3Result<()> {
    if n <= max {
        return Ok(());
    }
    let message = if max == MAX_BUCKET_TAGS {
        "Bucket tag count cannot be greater than 50"
    } else {
        "Object tags cannot be greater than 10"
    };
    Err(crate::error::custom(
        "BadRequest",
        http::StatusCode::BAD_REQUEST,
        message,
    ))
}

/// The pairs of a `TagSet` document, before any limit is checked. A `Tag` without its `Key`
/// or `Value` does not match the schema.
fn pairs_of(set: &[Tag]) -> S3Result<Vec<(String, String)>> {
    set.iter()
        .map(|t| match (&t.key, &t.value) {
            (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
            _ => Err(malformed_xml()),
        })
        .collect()
}

/// A tag set from a `Tagging` document (PutObjectTagging, PutBucketTagging, a POST's field).
pub(crate) fn from_tag_set(set: &[Tag], max: usize) -> S3Result<Tags> {
    let pairs = pairs_of(set)?;
    check_count(pairs.len(), max)?;
    let mut tags = Tags::new();
    for (k, v) in pairs {
        check_tag(&k, &v)?;
        if tags.insert(k, v).is_some() {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key".to_owned(),
            ));
        }
    }
    Ok(tags)
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte,
/// and the bytes must be UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The pairs of an `x-amz-tagging` header ("encoded as URL Query parameters", e.g.
/// `tag1=value1&tag2=value2`); a key without `=` has the empty value.
fn header_pairs(raw: &str) -> S3Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if v.contains('=') {
            return Err(bad_header());
        }
        let (k, v) = (
            form_decode(k).ok_or_else(bad_header)?,
            form_decode(v).ok_or_else(bad_header)?,
        );
        if pairs.iter().any(|(seen, _): &(String, String)| *seen == k) {
            return Err(bad_header());
        }
        pairs.push((k, v));
    }
    Ok(pairs)
}

/// A tag set from an `x-amz-tagging` header (PutObject, CopyObject, CreateMultipartUpload).
pub(crate) fn from_header(raw: &str) -> S3Result<Tags> {
    let pairs = header_pairs(raw)?;
    check_count(pairs.len(), MAX_OBJECT_TAGS)?;
    let mut tags = Tags::new();
    for (k, v) in pairs {
        check_tag(&k, &v)?;
        tags.insert(k, v);
    }
    Ok(tags)
}

/// A tag set from a browser POST's `tagging` field, a `Tagging` document.
pub(crate) fn from_post_field(xml: &str) -> S3Result<Tags> {
    let tagging = parse_tagging_document(xml)?;
    from_tag_set(&tagging.tag_set, MAX_OBJECT_TAGS)
}

fn parse_tagging_document(xml: &str) -> S3Result<Tagging> {
    let mut d = s3s::xml::Deserializer::new(xml.trim().as_bytes());
    let tagging =
        <Tagging as s3s::xml::Deserialize>::deserialize(&mut d).map_err(|_| malformed_xml())?;
    d.expect_eof().map_err(|_| malformed_xml())?;
    Ok(tagging)
}

/// The tags a write carries, as `s3s` parsed the request: the header of a PUT, the form
/// field of a POST.
pub(crate) fn requested(raw: Option<&str>, post: bool) -> S3Result<Tags> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(Tags::new()),
        Some(r) if post => from_post_field(r),
        Some(r) => from_header(r),
    }
}

/// The same tags for a policy's conditions, read before anything is validated (a request
/// the policy denies learns nothing about its input): what cannot be read names no tags.
pub(crate) fn requested_for_policy(raw: Option<&str>, post: bool) -> Option<Tags> {
    let raw = raw.filter(|r| !r.is_empty())?;
    let pairs = if post {
        pairs_of(&parse_tagging_document(raw).ok()?.tag_set).ok()?
    } else {
        header_pairs(raw).ok()?
    };
    Some(pairs.into_iter().collect())
}

pub(crate) fn to_tag_set(tags: &Tags) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// `x-amz-tagging-count`: "The number of tags, if any, on the object".
pub(crate) fn count(tags: &Tags) -> Option<i32> {
    (!tags.is_empty()).then_some(tags.len() as i32)
}

/// Coffer keeps one version per key, which S3 calls `null`.
fn check_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        Some(v) if v != "null" => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
        _ => Ok(()),
    }
}

impl Requester {
    /// The same requester with the tags its request puts on an object
    /// (`s3:RequestObjectTag/<key>`, `s3:RequestObjectTagKeys`).
    pub(crate) fn with_request_tags(self, tags: Option<&Tags>) -> Self {
        let mut r = self;
        if let Some(tags) = tags {
            for (k, v) in tags {
                r.context
                    .entry(format!("s3:requestobjecttag/{}", k.to_lowercase()))
                    .or_default()
                    .push(v.clone());
            }
            r.context.insert(
                "s3:requestobjecttagkeys".to_owned(),
                tags.keys().cloned().collect(),
            );
        }
        r
    }

    /// The same requester with the stored tags of the object it acts on
    /// (`s3:ExistingObjectTag/<key>`).
    pub(crate) fn with_existing_tags(&self, tags: &Tags) -> Self {
        let mut r = self.clone();
        for (k, v) in tags {
            r.context
                .entry(format!("s3:existingobjecttag/{}", k.to_lowercase()))
                .or_default()
                .push(v.clone());
        }
        r
    }
}

/// Whether a bucket's policy can depend on an object's stored tags.
fn policy_names_tags(bucket: &BucketRecord) -> bool {
    bucket
        .policy
        .as_deref()
        .is_some_and(|p| p.to_ascii_lowercase().contains("s3:existingobjecttag/"))
}

impl CofferS3 {
    /// Loads `bucket` for `action` on `key` as [`CofferS3::bucket_for`] does, with the
    /// object's stored tags in the policy's context when the policy names them
    /// (`s3:ExistingObjectTag/<key>`). A missing object has no tags; whether it exists is
    /// told only to a caller the policy lets through.
    pub(crate) async fn bucket_for_object(
        &self,
        who: &Requester,
        bucket: &str,
        action: &str,
        key: &str,
    ) -> S3Result<BucketRecord> {
        let record = self.load_bucket(bucket).await?;
        let existing = if policy_names_tags(&record) {
            self.load_object(bucket, key).await?
        } else {
            None
        };
        self.check_object_access(who, &record, action, key, existing.as_ref())?;
        Ok(record)
    }

    /// Whether `who` may do `action` on `key`, given the bucket and (when its policy names
    /// `s3:ExistingObjectTag/<key>`) the object stored there now.
    pub(crate) fn check_object_access(
        &self,
        who: &Requester,
        bucket: &BucketRecord,
        action: &str,
        key: &str,
        existing: Option<&coffer_store::ObjectRecord>,
    ) -> S3Result<()> {
        let allowed = if policy_names_tags(bucket) {
            let tags = existing.map(|o| o.tags.clone()).unwrap_or_default();
            self.may(&who.with_existing_tags(&tags), bucket, action, Some(key))
        } else {
            self.may(who, bucket, action, Some(key))
        };
        if allowed {
            Ok(())
        } else {
            Err(access_denied())
        }
    }

    pub(crate) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let who = self.requester(&req)?;
        let input = req.input;
        self.bucket_for_object(&who, &input.bucket, "s3:GetObjectTagging", &input.key)
            .await?;
        check_version(input.version_id.as_deref())?;
        let record = self
            .load_object(&input.bucket, &input.key)
            .await?
            .ok_or_else(no_such_key)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: to_tag_set(&record.tags),
            version_id: None,
        }))
    }

    pub(crate) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let who = self.requester(&req)?;
        let input = req.input;
        let for_policy = pairs_of(&input.tagging.tag_set)
            .ok()
            .map(|p| p.into_iter().collect::<Tags>());
        let who = who.with_request_tags(for_policy.as_ref());
        self.bucket_for_object(&who, &input.bucket, "s3:PutObjectTagging", &input.key)
            .await?;
        check_version(input.version_id.as_deref())?;
        // "If you send this request with an empty tag set, Amazon S3 deletes the existing
        // tag set on the object."
        let tags = from_tag_set(&input.tagging.tag_set, MAX_OBJECT_TAGS)?;
        self.store_object_tags(input.bucket, input.key, tags)
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    pub(crate) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let who = self.requester(&req)?;
        let input = req.input;
        self.bucket_for_object(&who, &input.bucket, "s3:DeleteObjectTagging", &input.key)
            .await?;
        check_version(input.version_id.as_deref())?;
        self.store_object_tags(input.bucket, input.key, Tags::new())
            .await?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn store_object_tags(&self, bucket: String, key: String, tags: Tags) -> S3Result<()> {
        let found = self
            .meta
            .set_object_tags(&bucket, &key, &tags)
            .await
            .or_s3()?;
        if found { Ok(()) } else { Err(no_such_key()) }
    }

    pub(crate) async fn do_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let who = self.requester(&req)?;
        let record = self
            .bucket_for(&who, &req.input.bucket, "s3:GetBucketTagging", None)
            .await?;
        if record.tags.is_empty() {
            return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
        }
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: to_tag_set(&record.tags),
        }))
    }

    pub(crate) async fn do_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let who = self.requester(&req)?;
        let input = req.input;
        self.bucket_for(&who, &input.bucket, "s3:PutBucketTagging", None)
            .await?;
        let tags = from_tag_set(&input.tagging.tag_set, MAX_BUCKET_TAGS)?;
        let name = input.bucket;
        self.meta.set_bucket_tags(&name, tags).await.or_s3()?;
        Ok(S3Response::with_status(
            PutBucketTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn do_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let who = self.requester(&req)?;
        self.bucket_for(&who, &req.input.bucket, "s3:PutBucketTagging", None)
            .await?;
        let name = req.input.bucket;
        self.meta
            .set_bucket_tags(&name, Tags::new())
            .await
            .or_s3()?;
        Ok(S3Response::with_status(
            DeleteBucketTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: s3s::S3Error) -> String {
        e.code().as_str().to_owned()
    }

    #[test]
    fn header_keys_without_a_value_are_empty_and_come_back_in_key_order() {
        let tags = from_header("foo=bar&bar").unwrap();
        assert_eq!(
            tags.into_iter().collect::<Vec<_>>(),
            vec![
                ("bar".to_owned(), String::new()),
                ("foo".to_owned(), "bar".to_owned())
            ]
        );
        let tags = from_header("a%20b=c+d&k=%C3%A9").unwrap();
        assert_eq!(tags["a b"], "c d");
        assert_eq!(tags["k"], "é");
    }

    #[test]
    fn malformed_headers_are_invalid_argument() {
        for raw in ["a=1&a=2", "TagSet=[{Key=string,Value=string}]", "a=%zz"] {
            assert_eq!(
                code(from_header(raw).unwrap_err()),
                "InvalidArgument",
                "{raw}"
            );
        }
    }

    #[test]
    fn limits_follow_s3() {
        let eleven: String = (0..11).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(code(from_header(&eleven).unwrap_err()), "BadRequest");
        let ten: String = (0..10).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(from_header(&ten).unwrap().len(), 10);
        let long_key = format!("{}=v", "k".repeat(129));
        assert_eq!(code(from_header(&long_key).unwrap_err()), "InvalidTag");
        assert!(from_header(&format!("{}=v", "k".repeat(128))).is_ok());
        let long_value = format!("k={}", "v".repeat(257));
        assert_eq!(code(from_header(&long_value).unwrap_err()), "InvalidTag");
        // UTF-16: a character outside the BMP takes two of the 256 positions.
        let wide = format!("k={}", "𝒜".repeat(129));
        assert_eq!(code(from_header(&wide).unwrap_err()), "InvalidTag");
        for bad in ["aws:x=1", "AWS:x=1", "=v", "k%7B=v", "k=v%7D"] {
            assert_eq!(code(from_header(bad).unwrap_err()), "InvalidTag", "{bad}");
        }
        let set = vec![
            Tag {
                key: Some("a".into()),
                value: Some("1".into()),
            };
            2
        ];
        assert_eq!(
            code(from_tag_set(&set, MAX_OBJECT_TAGS).unwrap_err()),
            "InvalidTag"
        );
        let fifty_one: Vec<Tag> = (0..51)
            .map(|i| Tag {
                key: Some(format!("k{i}")),
                value: Some(String::new()),
            })
            .collect();
        assert_eq!(
            code(from_tag_set(&fifty_one, MAX_BUCKET_TAGS).unwrap_err()),
            "BadRequest"
        );
        assert_eq!(
            from_tag_set(&fifty_one[..50], MAX_BUCKET_TAGS)
                .unwrap()
                .len(),
            50
        );
    }

    #[test]
    fn a_post_field_is_a_tagging_document() {
        let tags = from_post_field(
            "<Tagging><TagSet><Tag><Key>0</Key><Value>0</Value></Tag><Tag><Key>1</Key><Value>1</Value></Tag></TagSet></Tagging> ",
        )
        .unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(code(from_post_field("k=v").unwrap_err()), "MalformedXML");
        assert_eq!(
            code(
                from_post_field("<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>")
                    .unwrap_err()
            ),
            "MalformedXML"
        );
    }
}
