//! Subresource Integrity strings as npm writes them (`sha512-<base64>`).
//!
//! A string may hold several hashes separated by spaces. Like npm, we check
//! only the strongest algorithm present, and the content passes when it
//! matches any hash of that algorithm.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;

/// Hash algorithms npm tarballs are described with, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// A parsed, non-empty integrity string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Integrity {
    /// The hashes of the strongest algorithm only; weaker ones are dropped.
    hashes: Vec<(Algorithm, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntegrityError {
    #[error("integrity '{0}' holds no sha512, sha256 or sha1 hash")]
    NoHash(String),
    #[error("integrity '{0}' has a hash that is not base64 of the right length")]
    Encoding(String),
}

impl FromStr for Integrity {
    type Err = IntegrityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut hashes = Vec::new();
        for token in s.split_whitespace() {
            let Some((name, encoded)) = token.split_once('-') else {
                continue;
            };
            let algorithm = match name {
                "sha1" => Algorithm::Sha1,
                "sha256" => Algorithm::Sha256,
                "sha512" => Algorithm::Sha512,
                // Unknown algorithms are skipped, as the SRI spec says.
                _ => continue,
            };
            // Options after `?` are allowed by SRI and carry nothing for us.
            let encoded = encoded.split('?').next().unwrap_or_default();
            let bytes = STANDARD
                .decode(encoded)
                .ok()
                .filter(|b| b.len() == algorithm.output_len())
                .ok_or_else(|| IntegrityError::Encoding(s.to_string()))?;
            hashes.push((algorithm, bytes));
        }
        let strongest = hashes
            .iter()
            .map(|(a, _)| *a)
            .max()
            .ok_or_else(|| IntegrityError::NoHash(s.to_string()))?;
        hashes.retain(|(a, _)| *a == strongest);
        Ok(Integrity { hashes })
    }
}

impl Integrity {
    pub fn algorithm(&self) -> Algorithm {
        self.hashes[0].0
    }

    /// A file-name-safe key for caches: `sha512-<hex>` of the first hash.
    pub fn cache_key(&self) -> String {
        let (algorithm, bytes) = &self.hashes[0];
        format!("{}-{}", algorithm.name(), hex::encode(bytes))
    }

    /// Whether `actual`, a hash made with [`algorithm`](Self::algorithm),
    /// is one of ours.
    pub fn matches(&self, actual: &[u8]) -> bool {
        self.hashes.iter().any(|(_, expected)| expected == actual)
    }

    /// A writer that hashes everything passing through it with our algorithm.
    pub fn checker<W: Write>(&self, inner: W) -> Checker<W> {
        let hasher = match self.algorithm() {
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        };
        Checker { inner, hasher }
    }

    /// `hash`, made with [`algorithm`](Self::algorithm), in SRI form.
    pub fn format_hash(&self, hash: &[u8]) -> String {
        format!("{}-{}", self.algorithm().name(), STANDARD.encode(hash))
    }

    /// The integrity of `bytes` with sha512, the form npm publishes.
    pub fn sha512_of(bytes: &[u8]) -> Self {
        Integrity {
            hashes: vec![(Algorithm::Sha512, sha2::Sha512::digest(bytes).to_vec())],
        }
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .hashes
            .iter()
            .map(|(a, b)| format!("{}-{}", a.name(), STANDARD.encode(b)))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

impl fmt::Debug for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Integrity({self})")
    }
}

impl serde::Serialize for Integrity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Integrity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// Hashes bytes on their way to `inner`; see [`Integrity::checker`].
pub struct Checker<W> {
    inner: W,
    hasher: Hasher,
}

impl<W> Checker<W> {
    /// The inner writer and the hash of everything written.
    pub fn finish(self) -> (W, Vec<u8>) {
        let hash = match self.hasher {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        (self.inner, hash)
    }
}

impl<W: Write> Write for Checker<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        match &mut self.hasher {
            Hasher::Sha1(h) => h.update(&buf[..n]),
            Hasher::Sha256(h) => h.update(&buf[..n]),
            Hasher::Sha512(h) => h.update(&buf[..n]),
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(integrity: &Integrity, bytes: &[u8]) -> bool {
        let mut checker = integrity.checker(io::sink());
        checker.write_all(bytes).unwrap();
        integrity.matches(&checker.finish().1)
    }

    #[test]
    fn sha512_round_trips_and_verifies() {
        let made = Integrity::sha512_of(b"tarball");
        let parsed: Integrity = made.to_string().parse().unwrap();
        assert_eq!(parsed, made);
        assert!(check(&parsed, b"tarball"));
        assert!(!check(&parsed, b"tarbalL"));
        assert!(parsed.cache_key().starts_with("sha512-"));
    }

    #[test]
    fn sha1_and_sha256_forms_are_accepted() {
        let sha1 = format!("sha1-{}", STANDARD.encode(sha1::Sha1::digest(b"x")));
        assert!(check(&sha1.parse().unwrap(), b"x"));
        let sha256 = format!("sha256-{}", STANDARD.encode(sha2::Sha256::digest(b"x")));
        assert!(check(&sha256.parse().unwrap(), b"x"));
    }

    #[test]
    fn strongest_algorithm_wins() {
        // A correct sha1 beside a wrong sha512: only the sha512 counts.
        let sha1 = format!("sha1-{}", STANDARD.encode(sha1::Sha1::digest(b"x")));
        let both = format!("{sha1} {}", Integrity::sha512_of(b"y"));
        let parsed: Integrity = both.parse().unwrap();
        assert_eq!(parsed.algorithm(), Algorithm::Sha512);
        assert!(!check(&parsed, b"x"));
    }

    #[test]
    fn malformed_strings_are_refused() {
        assert!(matches!(
            "md5-abc".parse::<Integrity>(),
            Err(IntegrityError::NoHash(_))
        ));
        assert!(matches!(
            "".parse::<Integrity>(),
            Err(IntegrityError::NoHash(_))
        ));
        assert!(matches!(
            "sha512-c2hvcnQ=".parse::<Integrity>(),
            Err(IntegrityError::Encoding(_))
        ));
    }
}
