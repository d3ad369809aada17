//! Refusing files that look like credentials.
//!
//! A layer is public the moment it is pushed, so a private key or a token
//! that slipped into a copied directory is a leak. Layers that really need
//! such a file say `allow_secrets = true`.

use std::fs::File;
use std::io::Read;

use crate::layer::{Content, EntryKind, LayerPath, Tree};

/// Files larger than this are not read for content checks: credentials are
/// small, and big inputs must not be read twice.
const SNIFF_LIMIT: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
#[error(
    "{path} looks like a credential ({why}); set `allow_secrets = true` on the layer to include it"
)]
pub struct SecretError {
    pub path: LayerPath,
    pub why: &'static str,
}

/// Checks every regular file of `tree`.
pub fn check_tree(tree: &Tree) -> Result<(), SecretError> {
    for (path, entry) in tree {
        if let EntryKind::File { content, size } = &entry.kind
            && let Some(why) = classify(path.file_name(), || sniff(content, *size))
        {
            return Err(SecretError {
                path: path.clone(),
                why,
            });
        }
    }
    Ok(())
}

fn sniff(content: &Content, size: u64) -> Vec<u8> {
    if size > SNIFF_LIMIT {
        return Vec::new();
    }
    match content {
        Content::Bytes(bytes) => bytes.to_vec(),
        Content::Path(path) => {
            let mut buf = Vec::new();
            if let Ok(f) = File::open(path) {
                let _ = f.take(SNIFF_LIMIT).read_to_end(&mut buf);
            }
            buf
        }
    }
}

/// Why a file with this name and content is a secret, if it is one.
pub fn classify(name: &str, content: impl FnOnce() -> Vec<u8>) -> Option<&'static str> {
    if name == ".credentials.json" {
        return Some("an OAuth credentials file");
    }
    if name == ".env" || name.starts_with(".env.") {
        return Some("an environment file");
    }
    if matches!(name, "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519") {
        return Some("an SSH private key");
    }
    let text = content();
    let has = |needle: &str| text.windows(needle.len()).any(|w| w == needle.as_bytes());
    if has("PRIVATE KEY-----") {
        return Some("a private key");
    }
    if name == ".npmrc" && (has("_authToken") || has("_auth") || has("_password")) {
        return Some("an .npmrc with a token");
    }
    if name.ends_with(".json") && has("\"auths\"") && (has("\"auth\"") || has("\"identitytoken\""))
    {
        return Some("a registry auth file");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_credential_files() {
        let none = Vec::new;
        assert!(classify(".credentials.json", none).is_some());
        assert!(classify(".env.production", none).is_some());
        assert!(classify("id_ed25519", none).is_some());
        assert!(classify("key.pem", || b"-----BEGIN EC PRIVATE KEY-----".to_vec()).is_some());
        assert!(classify(".npmrc", || b"//r/:_authToken=x".to_vec()).is_some());
        assert!(
            classify("config.json", || br#"{"auths":{"h":{"auth":"eA=="}}}"#
                .to_vec())
            .is_some()
        );
        assert!(classify(".npmrc", || b"fund=false".to_vec()).is_none());
        assert!(classify("README.md", || b"# docs".to_vec()).is_none());
    }
}
