//! `runpod config` in a temporary HOME, and the key it stores in use.

use crate::support::{Cli, EP, KEY, Platform};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn config_writes_the_python_layout_with_mode_0600() {
    let cli = Cli::new();
    let run = cli.run_blocking(&["config", "--api-key", "rpa_first"], None);
    let shown = run.ok().to_owned();
    assert!(
        shown.starts_with("API key saved for profile `default` in "),
        "{shown}"
    );
    assert!(!shown.contains("rpa_first"), "{shown}");

    let path = cli.config_path();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "[default]\napi_key = \"rpa_first\"\n"
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn other_profiles_are_kept_and_a_key_can_come_from_stdin() {
    let cli = Cli::new();
    let path = cli.config_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "[default]\napi_key = \"rpa_default\"\n\n[staging]\napi_key = \"rpa_old\"\nregion = \"eu\"\n",
    )
    .unwrap();

    // stdin is not a terminal here, so the key is its first line.
    let run = cli.run_blocking(&["config", "--profile", "staging"], Some("rpa_new\n"));
    run.ok();

    let doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["default"]["api_key"].as_str(), Some("rpa_default"));
    assert_eq!(doc["staging"]["api_key"].as_str(), Some("rpa_new"));
    assert_eq!(doc["staging"]["region"].as_str(), Some("eu"));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    let json = cli.run_blocking(&["config", "-o", "json", "--api-key", "k2"], None);
    json.ok();
    assert_eq!(json.json()["profile"], "default");
    assert_eq!(json.json()["path"], path.to_str().unwrap());
}

#[test]
fn the_key_can_be_an_argument_as_in_the_python_cli() {
    let cli = Cli::new();
    cli.run_blocking(&["config", "rpa_positional", "--profile", "p2"], None)
        .ok();
    let doc: toml::Table =
        toml::from_str(&std::fs::read_to_string(cli.config_path()).unwrap()).unwrap();
    assert_eq!(doc["p2"]["api_key"].as_str(), Some("rpa_positional"));
}

#[test]
fn an_empty_key_is_refused() {
    let cli = Cli::new();
    cli.run_blocking(&["config"], Some("\n")).fails(2);
    assert!(!cli.config_path().exists());
}

#[test]
fn a_broken_file_is_left_alone_and_not_quoted() {
    let cli = Cli::new();
    let path = cli.config_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let broken = "[default]\napi_key = \"rpa_SECRET_in_file\n";
    std::fs::write(&path, broken).unwrap();
    let run = cli.run_blocking(&["config", "--api-key", "new"], None);
    let line = run.fails(3).to_owned();
    assert!(!line.contains("rpa_SECRET_in_file"), "{line}");
    assert!(line.contains("not valid TOML"), "{line}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_key_and_profile_are_used() {
    // The server accepts only KEY.
    let platform = Platform::without_worker().await;
    let cli = Cli::new().env("RUNPOD_ENDPOINT_BASE_URL", &platform.endpoint_url());
    cli.run(&["config", "--api-key", KEY]).await.ok();
    cli.run(&["config", "--profile", "wrong", "--api-key", "rpa_wrong"])
        .await
        .ok();

    cli.run(&["endpoint", "health", EP]).await.ok();
    let refused = cli
        .run(&["endpoint", "health", EP, "--profile", "wrong"])
        .await;
    assert!(refused.fails(4).contains("401"), "{refused:?}");
    let from_env = cli
        .clone()
        .env("RUNPOD_PROFILE", "wrong")
        .run(&["endpoint", "health", EP])
        .await;
    from_env.fails(4);
    platform.stop().await;
}
