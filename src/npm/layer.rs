//! npm layers for the builder: resolves an `[npm]` layer to its entries.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, anyhow};

use super::{Lockfile, NpmCache, NpmClient, NpmConfig, NpmPackageRecord};
use crate::build::LayerResolver;
use crate::layer::Tree;
use crate::plan::{LayerPlan, LayerSource, PlatformPlan};
use crate::platform::Libc;

/// Resolves npm layers; the registry client is made on first use, so
/// builds without npm layers never read any npm configuration.
pub struct NpmLayers {
    cache: NpmCache,
    lock: Option<Lockfile>,
    client: OnceLock<Result<NpmClient, String>>,
    /// Every package installed, for the SBOM.
    pub records: Mutex<Vec<NpmPackageRecord>>,
}

impl NpmLayers {
    /// Uses the npm cache under `cache_root` and the lock file beside `spec`.
    pub fn new(cache_root: &Path, spec: &Path) -> Result<Self> {
        let cache = NpmCache::open(cache_root.join("npm"))?;
        let lock_path = Lockfile::path_for_spec(spec);
        let lock = Lockfile::read_optional(&lock_path)?;
        Ok(NpmLayers {
            cache,
            lock,
            client: OnceLock::new(),
            records: Mutex::new(Vec::new()),
        })
    }

    fn client(&self) -> Result<&NpmClient> {
        self.client
            .get_or_init(|| {
                let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
                let config = NpmConfig::load(&cwd).map_err(|e| e.to_string())?;
                NpmClient::new(config).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }
}

impl LayerResolver for NpmLayers {
    fn resolve(
        &self,
        layer: &LayerPlan,
        pp: &PlatformPlan,
        libc: Option<&str>,
        epoch: u64,
    ) -> Result<Tree> {
        let LayerSource::Npm { source, .. } = &layer.source else {
            return Err(anyhow!("layer '{}' is not an npm layer", layer.name));
        };
        let context = || {
            format!(
                "layer '{}' ({}): npm package {}",
                layer.name,
                layer.file.display(),
                source.package
            )
        };
        let platform = &pp.platform;
        let libc: Libc = match (source.libc().with_context(context)?, libc) {
            (Some(own), _) => own,
            (None, Some(base)) => base.parse().with_context(context)?,
            (None, None) => Libc::Glibc,
        };
        let client = self.client().with_context(context)?;
        let resolved = super::resolve_for_build(source, self.lock.as_ref(), platform, client)
            .with_context(context)?;
        let (tree, records) = super::build_tree(
            source,
            &resolved,
            platform,
            libc,
            epoch,
            &self.cache,
            client,
        )
        .with_context(context)?;
        self.records.lock().expect("records lock").extend(records);
        Ok(tree)
    }
}
