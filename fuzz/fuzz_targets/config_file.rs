//! `~/.runpod/config.toml`, both layouts, through the public builder with a fake `HOME`.
//! Never a panic, a config error on bad input, and the key never in an error or a Debug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runpod_transport::{Config, Report};

/// Seeds and the dictionary use this as the key; it must never be shown.
const SECRET: &str = "rpa_FUZZSECRET";

fn home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("runpod-fuzz-home-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".runpod")).expect("temp HOME");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((profile, text)) = data.split_first() else {
        return;
    };
    std::fs::write(home().join(".runpod/config.toml"), text).expect("write config");
    let profile = match profile % 3 {
        0 => None,
        1 => Some("default".to_owned()),
        _ => Some("work".to_owned()),
    };
    let home = home().display().to_string();
    let built = Config::builder()
        .with_env_source(move |k| match k {
            "HOME" => Some(home.clone()),
            "RUNPOD_PROFILE" => profile.clone(),
            _ => None,
        })
        .build();
    match built {
        Ok(config) => assert!(!format!("{config:?}").contains(SECRET)),
        Err(err) => {
            assert!(err.is_config());
            for shown in [
                err.to_string(),
                format!("{err:?}"),
                Report(&err).to_string(),
            ] {
                assert!(!shown.contains(SECRET), "key shown: {shown}");
            }
        }
    }
});
