//! Cutting a stream of inputs into request bodies that each stay within the append limit.

use runpod_transport::{Error, Result};
use serde::Serialize;

/// Largest create or append body Runpod accepts ("at most 10 MB per call", read as MiB).
pub(crate) const MAX_APPEND_BYTES: usize = 10 * 1024 * 1024;
/// Requests one batch holds (documented).
pub const MAX_BATCH_REQUESTS: usize = 5_000;

/// Which body a piece becomes: a create body is a bare array, an append body wraps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// `[{"input": …}, …]`
    Create,
    /// `{"requests": [{"input": …}, …]}`
    Append,
}

impl Envelope {
    fn open(self) -> &'static [u8] {
        match self {
            Envelope::Create => b"[",
            Envelope::Append => b"{\"requests\":[",
        }
    }

    fn close(self) -> &'static [u8] {
        match self {
            Envelope::Create => b"]",
            Envelope::Append => b"]}",
        }
    }
}

/// Serializes one input as a batch request, `{"input": …}`.
pub(crate) fn request_bytes<I: Serialize>(index: usize, input: &I) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Request<'a, I> {
        input: &'a I,
    }
    serde_json::to_vec(&Request { input })
        .map_err(|e| Error::invalid_input(format!("cannot encode input {index} as JSON: {e}")))
}

/// Builds bodies of at most `limit` bytes and `max_requests` requests from serialized requests,
/// in order, without ever holding more than one body.
#[derive(Debug)]
pub(crate) struct Pieces {
    limit: usize,
    max_requests: usize,
    envelope: Envelope,
    body: Vec<u8>,
    count: usize,
}

impl Pieces {
    pub(crate) fn new(envelope: Envelope, limit: usize, max_requests: usize) -> Self {
        let mut pieces = Self {
            limit,
            max_requests: max_requests.max(1),
            envelope,
            body: Vec::new(),
            count: 0,
        };
        pieces.reset();
        pieces
    }

    fn reset(&mut self) {
        self.body.clear();
        self.body.extend_from_slice(self.envelope.open());
        self.count = 0;
    }

    /// Requests in the body being built.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Whether `request` fits in the current body.
    pub(crate) fn fits(&self, request: &[u8]) -> bool {
        let comma = usize::from(self.count > 0);
        self.count < self.max_requests
            && self.body.len() + comma + request.len() + self.envelope.close().len() <= self.limit
    }

    /// Adds `request` (input `index`), which must fit (see [`fits`](Self::fits)) unless the body
    /// is empty; a request too large for an empty body is refused.
    pub(crate) fn push(&mut self, index: usize, request: &[u8]) -> Result<()> {
        if !self.fits(request) {
            let alone = self.envelope.open().len() + request.len() + self.envelope.close().len();
            if self.count == 0 || alone > self.limit {
                return Err(Error::invalid_input(format!(
                    "input {index} is {} bytes as JSON; one batch request body holds at most {} \
                     bytes, so it cannot be sent",
                    request.len(),
                    self.limit
                )));
            }
        }
        if self.count > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(request);
        self.count += 1;
        Ok(())
    }

    /// The finished body and its request count; starts a new one.
    pub(crate) fn take(&mut self) -> (Vec<u8>, usize) {
        self.body.extend_from_slice(self.envelope.close());
        let count = self.count;
        let body = std::mem::take(&mut self.body);
        self.reset();
        (body, count)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Cuts `inputs` like the client does and returns the decoded bodies.
    fn cut(envelope: Envelope, limit: usize, max: usize, inputs: &[Value]) -> Result<Vec<Vec<u8>>> {
        let mut pieces = Pieces::new(envelope, limit, max);
        let mut bodies = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let request = request_bytes(i, input)?;
            if !pieces.fits(&request) && pieces.len() > 0 {
                bodies.push(pieces.take().0);
            }
            pieces.push(i, &request)?;
        }
        if pieces.len() > 0 {
            bodies.push(pieces.take().0);
        }
        Ok(bodies)
    }

    #[test]
    fn bodies_stay_within_the_limit_and_keep_every_input_in_order() {
        let inputs: Vec<Value> = (0..200)
            .map(|i| json!({"i": i, "pad": "x".repeat(i % 37)}))
            .collect();
        for limit in [90, 150, 333, 1000, 100_000] {
            let bodies = cut(Envelope::Append, limit, 5_000, &inputs).unwrap();
            let mut seen = Vec::new();
            for body in &bodies {
                assert!(body.len() <= limit, "{} > {limit}", body.len());
                let parsed: Value = serde_json::from_slice(body).unwrap();
                for request in parsed["requests"].as_array().unwrap() {
                    seen.push(request["input"].clone());
                }
            }
            assert_eq!(seen, inputs, "limit {limit}");
        }
    }

    #[test]
    fn a_body_that_is_exactly_the_limit_is_allowed() {
        let request = request_bytes(0, &json!(1)).unwrap(); // {"input":1}
        let exact = b"[".len() + request.len() + b"]".len();
        let bodies = cut(Envelope::Create, exact, 10, &[json!(1), json!(1)]).unwrap();
        assert_eq!(bodies.len(), 2);
        assert!(bodies.iter().all(|b| b.len() == exact));
        assert_eq!(bodies[0], b"[{\"input\":1}]");
    }

    #[test]
    fn the_request_count_is_capped_too() {
        let inputs: Vec<Value> = (0..7).map(|i| json!(i)).collect();
        let bodies = cut(Envelope::Create, usize::MAX, 3, &inputs).unwrap();
        let counts: Vec<usize> = bodies
            .iter()
            .map(|b| serde_json::from_slice::<Vec<Value>>(b).unwrap().len())
            .collect();
        assert_eq!(counts, [3, 3, 1]);
    }

    #[test]
    fn an_input_too_large_for_any_body_is_refused_by_index() {
        let inputs = [json!("small"), json!("y".repeat(200))];
        let err = cut(Envelope::Append, 100, 10, &inputs).unwrap_err();
        assert!(err.is_invalid_input());
        assert!(err.to_string().contains("input 1 is"), "{err}");
    }
}
