//! The three requests the benchmark times: PUT, verified GET and DELETE of one object.

use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::data::Payload;
use crate::errors::{chain, describe};
use crate::phase::{Done, OpError};
use crate::sse::Sse;

/// Everything a request needs; shared by all workers.
pub struct Bench {
    pub client: Client,
    pub bucket: String,
    pub sse: Sse,
    pub payload: Payload,
}

impl Bench {
    fn key(&self, index: u64) -> String {
        format!("bench/{}/{index:08}", self.payload.len())
    }

    /// Uploads object `index`; the latency excludes preparing its content.
    pub async fn put(&self, index: u64) -> Result<Done, OpError> {
        let body = self.payload.object(index);
        let bytes = body.len() as u64;
        let length =
            i64::try_from(bytes).map_err(|_| OpError::Failed("object too large".into()))?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(index))
            .content_length(length)
            .body(ByteStream::from(body));
        let req = self.sse.put(req);
        let start = Instant::now();
        req.send()
            .await
            .map_err(|e| OpError::Failed(describe(&e)))?;
        Ok(Done {
            bytes,
            latency: start.elapsed(),
        })
    }

    /// Downloads object `index` completely and checks every byte; the latency covers
    /// the request and reading the whole body.
    pub async fn get(&self, index: u64) -> Result<Done, OpError> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(index));
        let req = self.sse.get(req);
        let mut verifier = self.payload.verifier(index);
        let mut bytes = 0u64;
        let start = Instant::now();
        let mut body = req
            .send()
            .await
            .map_err(|e| OpError::Failed(describe(&e)))?
            .body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| OpError::Failed(format!("reading the body: {}", chain(&e))))?
        {
            bytes += chunk.len() as u64;
            verifier.update(&chunk);
        }
        let latency = start.elapsed();
        verifier.finish().map_err(OpError::Mismatch)?;
        Ok(Done { bytes, latency })
    }

    /// Deletes object `index`.
    pub async fn delete(&self, index: u64) -> Result<Done, OpError> {
        let req = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(index));
        let start = Instant::now();
        req.send()
            .await
            .map_err(|e| OpError::Failed(describe(&e)))?;
        Ok(Done {
            bytes: 0,
            latency: start.elapsed(),
        })
    }
}
