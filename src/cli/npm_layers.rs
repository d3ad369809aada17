//! Resolves npm layers for the builder (filled in by the npm source).

use anyhow::{Result, bail};

use jib_image::build::LayerResolver;
use jib_image::cache::Cache;
use jib_image::layer::Tree;
use jib_image::plan::{LayerPlan, PlatformPlan};

pub struct NpmResolver;

impl LayerResolver for NpmResolver {
    fn resolve(
        &self,
        layer: &LayerPlan,
        _: &PlatformPlan,
        _: Option<&str>,
        _: u64,
    ) -> Result<Tree> {
        bail!(
            "layer '{}': npm layers are not supported by this build",
            layer.name
        )
    }
}

pub fn resolver(_cache: &Cache) -> Result<NpmResolver> {
    Ok(NpmResolver)
}
