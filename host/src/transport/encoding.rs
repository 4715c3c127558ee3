//! Body encodings: transparent decoding of gzip/deflate/br responses, k6's `compression` of
//! request bodies, and the cap on bodies kept for the guest.

use bytes::Bytes;

use super::{Outgoing, TransportError};

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
    headers: &[(String, String)],
    body: Vec<u8>,
    limit: u64,
) -> Result<Vec<u8>, TransportError> {
    use std::io::Read;
    let Some((_, encodings)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
    else {
        return Ok(body);
    };
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

/// Compresses the request body with `algorithms` (k6's `compression`: `gzip`, `deflate`,
/// comma-separated, applied in order) and sets `Content-Encoding`.
pub fn compress(req: &mut Outgoing, algorithms: &str) -> Result<(), TransportError> {
    use std::io::Write;
    let Some(mut body) = req.body.as_ref().map(|b| b.to_vec()) else {
        return Ok(());
    };
    let mut applied = Vec::new();
    for algorithm in algorithms.split(',').map(str::trim) {
        let out = match algorithm {
            "gzip" => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&body).and_then(|_| e.finish())
            }
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&body).and_then(|_| e.finish())
            }
            other => {
                return Err(TransportError::Other {
                    code: 1000,
                    message: format!(
                        "unknown compression algorithm '{other}' (expected gzip or deflate)"
                    ),
                })
            }
        };
        body = out.map_err(|e| TransportError::Other {
            code: 1000,
            message: format!("cannot compress the request body: {e}"),
        })?;
        applied.push(algorithm);
    }
    req.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-encoding"));
    req.headers
        .push(("content-encoding".into(), applied.join(", ")));
    req.body = Some(Bytes::from(body));
    Ok(())
}
