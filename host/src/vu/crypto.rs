//! The host side of the WIT `crypto` import (k6's `k6/crypto`): hashes and HMACs with the
//! RustCrypto crates, random bytes from the OS. A call's input is bounded by [`MAX_INPUT_BYTES`]
//! and its random output by [`MAX_RANDOM_BYTES`]; nothing is kept between calls.

use hmac::{Hmac, Mac};
use sha2::Digest;

use super::bindings::crypto::{self, Algorithm};
use super::state::VuState;

/// Longest input (and key) a hash or HMAC takes, in bytes.
pub const MAX_INPUT_BYTES: usize = 16 << 20;
/// Most random bytes one call draws.
pub const MAX_RANDOM_BYTES: u32 = 64 << 10;

fn bounded(what: &str, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "k6/crypto: a {what} of {} bytes; the host hashes at most {MAX_INPUT_BYTES}",
            bytes.len()
        ));
    }
    Ok(())
}

/// The hash of `input`.
fn digest(algorithm: Algorithm, input: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::Md5 => md5::Md5::digest(input).to_vec(),
        Algorithm::Sha1 => sha1::Sha1::digest(input).to_vec(),
        Algorithm::Sha256 => sha2::Sha256::digest(input).to_vec(),
        Algorithm::Sha384 => sha2::Sha384::digest(input).to_vec(),
        Algorithm::Sha512 => sha2::Sha512::digest(input).to_vec(),
        Algorithm::Sha512224 => sha2::Sha512_224::digest(input).to_vec(),
        Algorithm::Sha512256 => sha2::Sha512_256::digest(input).to_vec(),
    }
}

/// The HMAC of `input` under `key` (any key length is valid for HMAC).
fn hmac(algorithm: Algorithm, key: &[u8], input: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC takes keys of any length");
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Md5 => run::<Hmac<md5::Md5>>(key, input),
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, input),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, input),
        Algorithm::Sha384 => run::<Hmac<sha2::Sha384>>(key, input),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, input),
        Algorithm::Sha512224 => run::<Hmac<sha2::Sha512_224>>(key, input),
        Algorithm::Sha512256 => run::<Hmac<sha2::Sha512_256>>(key, input),
    }
}

impl crypto::Host for VuState {
    fn digest(&mut self, algorithm: Algorithm, input: Vec<u8>) -> Result<Vec<u8>, String> {
        bounded("input", &input)?;
        Ok(digest(algorithm, &input))
    }

    fn hmac(
        &mut self,
        algorithm: Algorithm,
        key: Vec<u8>,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        bounded("key", &key)?;
        bounded("input", &input)?;
        Ok(hmac(algorithm, &key, &input))
    }

    fn random_bytes(&mut self, n: u32) -> Result<Vec<u8>, String> {
        if n > MAX_RANDOM_BYTES {
            return Err(format!(
                "k6/crypto: {n} random bytes in one call; at most {MAX_RANDOM_BYTES}"
            ));
        }
        let mut out = vec![0u8; n as usize];
        getrandom::getrandom(&mut out).map_err(|e| format!("k6/crypto: no random bytes: {e}"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            hex(&digest(Algorithm::Sha256, b"hello")),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            hex(&digest(Algorithm::Md5, b"hello")),
            "5d41402abc4b2a76b9719d911017c592"
        );
        assert_eq!(
            hex(&hmac(
                Algorithm::Sha256,
                b"key",
                b"The quick brown fox jumps over the lazy dog"
            )),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn inputs_past_the_bound_are_refused() {
        assert!(bounded("input", &vec![0; MAX_INPUT_BYTES]).is_ok());
        let e = bounded("input", &vec![0; MAX_INPUT_BYTES + 1]).unwrap_err();
        assert!(e.contains("at most 16777216"), "{e}");
    }
}
