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
    /// One client per endpoint (several: gateways of one store, as behind a load balancer).
    pub clients: Vec<Client>,
    pub bucket: String,
    pub sse: Sse,
    pub payload: Payload,
}

impl Bench {
    /// The client for object `index`'s request in a phase: objects spread over the
    /// endpoints in turn, and each phase moves one endpoint on, so that with several
    /// gateways an object is read and deleted through another gateway than wrote it.
    fn client(&self, index: u64, phase: u64) -> &Client {
        let n = self.clients.len() as u64;
        &self.clients[((index + phase) % n) as usize]
    }

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
            .client(index, 0)
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
            .client(index, 1)
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
            .client(index, 2)
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
