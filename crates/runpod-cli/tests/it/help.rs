//! `--help` texts (snapshots) and completions.

use crate::support::Cli;

fn help(args: &[&str]) -> String {
    let run = Cli::new().run_blocking(args, None);
    run.ok().to_owned()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!("help_top", help(&["--help"]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!("help_run", help(&["run", "--help"]));
}

#[test]
fn pods_help() {
    insta::assert_snapshot!("help_pods", help(&["pods", "--help"]));
}

#[test]
fn gpus_list_help() {
    insta::assert_snapshot!("help_gpus_list", help(&["gpus", "list", "--help"]));
}

#[test]
fn job_help() {
    insta::assert_snapshot!("help_job", help(&["job", "--help"]));
}

#[test]
fn local_serve_help() {
    // The server flags come from runpod-local's `ServeArgs`, shared with its own binary.
    insta::assert_snapshot!("help_local_serve", help(&["local", "serve", "--help"]));
}

#[test]
fn completions_cover_the_commands() {
    for (shell, marker) in [
        ("bash", "_runpod()"),
        ("zsh", "#compdef runpod"),
        ("fish", "complete -c runpod"),
    ] {
        let script = help(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script:.200}");
        assert!(
            script.contains("purge-queue"),
            "{shell} completions lack subcommands"
        );
    }
    let run = Cli::new().run_blocking(&["completions", "tcsh"], None);
    assert_eq!(run.code, 2, "{run:?}");
}
