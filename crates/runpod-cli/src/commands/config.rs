//! `runpod config`: store an API key.

use serde_json::json;

use crate::context::Context;
use crate::credentials::{self, DEFAULT_PROFILE};
use crate::error::CliResult;
use crate::input;

pub(crate) fn run(ctx: &Context, positional: Option<&str>) -> CliResult {
    let profile = ctx.profile().unwrap_or(DEFAULT_PROFILE);
    let key = match positional.or(ctx.api_key_flag()) {
        Some(key) if !key.trim().is_empty() => key.trim().to_owned(),
        _ => input::secret("Runpod API key (input hidden): ", "API key")?,
    };
    let path = credentials::default_path()?;
    credentials::store(&path, profile, &key)?;
    if ctx.out.is_json() {
        ctx.out.json(&json!({
            "profile": profile,
            "path": path.display().to_string(),
        }))
    } else {
        ctx.out.line(&format!(
            "API key saved for profile `{profile}` in {}",
            path.display()
        ))
    }
}
