//! URLs the registry hands back: upload `Location`s and redirects.
//!
//! The distribution spec lets an upload `Location` be absolute or relative
//! and carry its own query (upload state); it is resolved against the URL of
//! the request that returned it (RFC 3986 section 5), and `digest=` is added
//! to whatever query is already there.

use url::Url;

use crate::digest::Digest;

/// `location` resolved against `base`; `None` when it is not a valid
/// reference or not HTTP(S).
pub fn resolve(base: &Url, location: &str) -> Option<Url> {
    let url = base.join(location.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The upload URL with `digest=` appended (after `&` when a query exists).
pub fn with_digest(upload: &Url, digest: &Digest) -> Url {
    let mut url = upload.clone();
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    url
}

/// Whether two URLs share scheme, host and port: credentials are only ever
/// sent to the registry's own origin.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// The path of a URL without its query, for error messages (upload queries
/// are long opaque state).
pub fn path_of(url: &Url) -> &str {
    url.path()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://reg.test:5000/v2/app/blobs/uploads/").unwrap()
    }

    #[test]
    fn resolves_relative_absolute_and_query_locations() {
        let table = [
            (
                "/v2/app/blobs/uploads/u1",
                "https://reg.test:5000/v2/app/blobs/uploads/u1",
            ),
            (
                "u2?_state=abc",
                "https://reg.test:5000/v2/app/blobs/uploads/u2?_state=abc",
            ),
            ("../other", "https://reg.test:5000/v2/app/blobs/other"),
            (
                "https://cdn.test/up/1?sig=x%2By",
                "https://cdn.test/up/1?sig=x%2By",
            ),
            ("//cdn.test/path", "https://cdn.test/path"),
            (
                "?only=query",
                "https://reg.test:5000/v2/app/blobs/uploads/?only=query",
            ),
        ];
        for (location, expected) in table {
            assert_eq!(
                resolve(&base(), location).unwrap().as_str(),
                expected,
                "{location}"
            );
        }
        assert!(resolve(&base(), "ftp://x/y").is_none());
    }

    #[test]
    fn digest_goes_after_an_existing_query() {
        let digest = Digest::of(b"");
        let plain = with_digest(&resolve(&base(), "u1").unwrap(), &digest);
        assert_eq!(
            plain.query(),
            Some(format!("digest=sha256%3A{}", digest.hex()).as_str())
        );
        let stateful = with_digest(&resolve(&base(), "u1?_state=a%3Db&x=1").unwrap(), &digest);
        assert_eq!(
            stateful.query(),
            Some(format!("_state=a%3Db&x=1&digest=sha256%3A{}", digest.hex()).as_str())
        );
    }

    #[test]
    fn origin_compares_scheme_host_and_port() {
        let other_port = Url::parse("https://reg.test:5001/v2/").unwrap();
        let plain_http = Url::parse("http://reg.test:5000/v2/").unwrap();
        assert!(same_origin(
            &base(),
            &Url::parse("https://reg.test:5000/x").unwrap()
        ));
        assert!(!same_origin(&base(), &other_port));
        assert!(!same_origin(&base(), &plain_http));
    }
}
