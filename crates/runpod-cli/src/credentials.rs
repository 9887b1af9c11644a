//! `~/.runpod/config.toml`, in the Python SDK's layout: one table per profile,
//! `[default]\napi_key = "…"`. Other profiles and other keys are kept.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};

pub(crate) const DEFAULT_PROFILE: &str = "default";

/// `$HOME/.runpod/config.toml`.
pub(crate) fn default_path() -> CliResult<PathBuf> {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| CliError::config("cannot find the home directory: HOME is not set"))?;
    Ok(Path::new(&home).join(".runpod").join("config.toml"))
}

/// The new file text: `text` (the current file, if any) with `profile.api_key` set.
///
/// Fails, without a word of the file in the message (it holds keys), when the file is not
/// TOML or `profile` is not a table.
pub(crate) fn with_key(text: Option<&str>, profile: &str, key: &str) -> CliResult<String> {
    let mut doc: toml::Table = match text {
        Some(text) => toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            CliError::config(format!(
                "the config file is not valid TOML{at}; fix or remove it first"
            ))
        })?,
        None => toml::Table::new(),
    };
    let section = doc
        .entry(profile.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(table) = section.as_table_mut() else {
        return Err(CliError::config(format!(
            "`{profile}` in the config file is a value, not a profile table; fix or remove it first"
        )));
    };
    table.insert("api_key".to_owned(), toml::Value::String(key.to_owned()));
    toml::to_string(&doc)
        .map_err(|e| CliError::failure(format!("cannot write the config file: {e}")))
}

/// Stores `key` under `profile` in the file at `path`, creating it (and its directory) if
/// needed. The file is replaced atomically and ends up readable by its owner only.
pub(crate) fn store(path: &Path, profile: &str, key: &str) -> CliResult {
    let shown = path.display();
    let current = match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::failure(format!("cannot read {shown}: {e}"))),
    };
    let text = with_key(current.as_deref(), profile, key)
        .map_err(|e| CliError::config(format!("{shown}: {}", e.message())))?;
    let dir = path
        .parent()
        .ok_or_else(|| CliError::failure(format!("{shown} has no directory")))?;
    create_private_dir(dir)
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
    let temp = dir.join(format!(".config.toml.{}.tmp", std::process::id()));
    let written = write_private(&temp, text.as_bytes()).and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(CliError::failure(format!("cannot write {shown}: {e}")));
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

/// Writes a new file with mode 0600 from the start, so the key is never readable by others.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_python_layout() {
        let text = with_key(None, "default", "rpa_1").unwrap();
        assert_eq!(text, "[default]\napi_key = \"rpa_1\"\n");
    }

    #[test]
    fn other_profiles_and_keys_are_kept() {
        let before = "apiKey = \"flat\"\n\n[default]\napi_key = \"old\"\nextra = 1\n\n[staging]\napi_key = \"s\"\n";
        let text = with_key(Some(before), "default", "new").unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(doc["default"]["api_key"].as_str(), Some("new"));
        assert_eq!(doc["default"]["extra"].as_integer(), Some(1));
        assert_eq!(doc["staging"]["api_key"].as_str(), Some("s"));
        assert_eq!(doc["apiKey"].as_str(), Some("flat"));
    }

    #[test]
    fn a_broken_file_is_refused_without_quoting_it() {
        let err = with_key(Some("api_key = \"rpa_SECRET\nx"), "default", "k").unwrap_err();
        assert!(!err.message().contains("rpa_SECRET"), "{}", err.message());
        assert!(err.message().contains("line"), "{}", err.message());
        let err = with_key(Some("default = \"rpa_SECRET\""), "default", "k").unwrap_err();
        assert!(!err.message().contains("rpa_SECRET"), "{}", err.message());
    }
}
