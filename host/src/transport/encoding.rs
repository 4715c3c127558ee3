//! Body encodings: transparent decoding of gzip/deflate/br responses, k6's `compression` of
//! request bodies, and the cap on bodies kept for the guest.

use bytes::Bytes;

use super::{Headers, Outgoing, TransportError};

pub(super) fn body_too_large(limit: u64) -> TransportError {
    TransportError::Other {
        code: 1000,
        message: format!(
            "response body is larger than {limit} bytes (max-response-body-mib); \
             use body-mode discard for large bodies"
        ),
    }
}

/// Decodes a `Content-Encoding` of gzip, deflate or br (several, in order); other bodies pass.
pub(super) fn decode_body(
    headers: &Headers,
    body: Vec<u8>,
    limit: u64,
) -> Result<Vec<u8>, TransportError> {
    match headers.get("content-encoding") {
        None => Ok(body),
        Some(encodings) => decode(encodings, body, limit),
    }
}

/// [`decode_body`] of a body with a `Content-Encoding`. Out of line: its decoders' state
/// (several KB, built on the stack) would otherwise be in the frame of every response's call,
/// probed page by page on entry.
#[inline(never)]
fn decode(encodings: &str, body: Vec<u8>, limit: u64) -> Result<Vec<u8>, TransportError> {
    use std::io::Read;
    let mut body = body;
    for encoding in encodings.split(',').rev().map(str::trim) {
        let mut out = Vec::new();
        let reader: Box<dyn Read + '_> = match encoding.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
            "deflate" => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
            "br" => Box::new(brotli_decompressor::Decompressor::new(&body[..], 4096)),
            "identity" | "" => continue,
            _ => return Ok(body),
        };
        reader
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| TransportError::Other {
                code: 1000,
                message: format!("cannot decode the {encoding} response body: {e}"),
            })?;
        if out.len() as u64 > limit {
            return Err(body_too_large(limit));
        }
        body = out;
    }
    Ok(body)
}

/// Most stages of k6's `compression` list (`"gzip, deflate"` is two); a longer list fails the
/// request with code 1000 before anything is compressed or sent.
pub const MAX_COMPRESSION_STAGES: usize = 2;

/// Request bodies up to this size are compressed in place; larger ones on tokio's blocking
/// pool, off the async workers.
pub const COMPRESS_INLINE_BYTES: usize = 64 << 10;

/// A compression stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Gzip,
    Deflate,
}

fn compress_error(message: String) -> TransportError {
    TransportError::Other {
        code: 1000,
        message,
    }
}

/// The stages of `algorithms` (comma-separated, in order), at most [`MAX_COMPRESSION_STAGES`].
fn stages(algorithms: &str) -> Result<Vec<Stage>, TransportError> {
    let names: Vec<&str> = algorithms.split(',').map(str::trim).collect();
    if names.len() > MAX_COMPRESSION_STAGES {
        return Err(compress_error(format!(
            "compression '{algorithms}' has {} stages, at most {MAX_COMPRESSION_STAGES} are applied",
            names.len()
        )));
    }
    names
        .into_iter()
        .map(|name| match name {
            "gzip" => Ok(Stage::Gzip),
            "deflate" => Ok(Stage::Deflate),
            other => Err(compress_error(format!(
                "unknown compression algorithm '{other}' (expected gzip or deflate)"
            ))),
        })
        .collect()
}

/// `body` through each of `stages`.
fn compress_bytes(body: &[u8], stages: &[Stage]) -> Result<Vec<u8>, TransportError> {
    use std::io::Write;
    let mut body = body.to_vec();
    for stage in stages {
        let level = flate2::Compression::default();
        let out = match stage {
            Stage::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
                e.write_all(&body).and_then(|_| e.finish())
            }
            Stage::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
                e.write_all(&body).and_then(|_| e.finish())
            }
        };
        body = out.map_err(|e| compress_error(format!("cannot compress the request body: {e}")))?;
    }
    Ok(body)
}

/// Sets the compressed body and its `Content-Encoding`.
fn apply(req: &mut Outgoing, body: Vec<u8>, stages: &[Stage]) {
    let names: Vec<&str> = stages
        .iter()
        .map(|s| match s {
            Stage::Gzip => "gzip",
            Stage::Deflate => "deflate",
        })
        .collect();
    req.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-encoding"));
    req.headers
        .push(("content-encoding".into(), names.join(", ")));
    req.body = Some(Bytes::from(body));
}

/// Compresses the request body with `algorithms` (k6's `compression`: `gzip`, `deflate`,
/// comma-separated, applied in order, at most [`MAX_COMPRESSION_STAGES`]) and sets
/// `Content-Encoding`.
pub fn compress(req: &mut Outgoing, algorithms: &str) -> Result<(), TransportError> {
    let stages = stages(algorithms)?;
    let Some(body) = &req.body else {
        return Ok(());
    };
    let out = compress_bytes(body, &stages)?;
    apply(req, out, &stages);
    Ok(())
}

/// [`compress`], on tokio's blocking pool for bodies over [`COMPRESS_INLINE_BYTES`].
pub async fn compress_off_worker(
    req: &mut Outgoing,
    algorithms: &str,
) -> Result<(), TransportError> {
    let stages = stages(algorithms)?;
    let Some(body) = req.body.clone() else {
        return Ok(());
    };
    let out = if body.len() <= COMPRESS_INLINE_BYTES {
        compress_bytes(&body, &stages)?
    } else {
        let job_stages = stages.clone();
        tokio::task::spawn_blocking(move || compress_bytes(&body, &job_stages))
            .await
            .map_err(|e| compress_error(format!("cannot compress the request body: {e}")))??
    };
    apply(req, out, &stages);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_capped_and_known() {
        assert_eq!(stages("gzip").unwrap(), [Stage::Gzip]);
        assert_eq!(
            stages("deflate, gzip").unwrap(),
            [Stage::Deflate, Stage::Gzip]
        );
        let e = stages("gzip, gzip, gzip").unwrap_err();
        assert_eq!(e.code(), 1000);
        assert!(e.to_string().contains("3 stages, at most 2"), "{e}");
        assert!(stages("zstd").unwrap_err().to_string().contains("'zstd'"));
    }
}
