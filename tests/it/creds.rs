//! `jib-image creds check` on fake credentials files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn check(label: &str, content: &str) -> Output {
    let file = std::env::temp_dir().join(format!("jib-it-creds-{label}-{}", std::process::id()));
    std::fs::write(&file, content).unwrap();
    let output = check_path(file.clone());
    let _ = std::fs::remove_file(&file);
    output
}

fn check_path(path: PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jib-image"))
        .args(["creds", "check"])
        .arg(path)
        .env_remove("JIB_REQUIRED_SCOPES")
        .output()
        .unwrap()
}

fn file(scopes: &str) -> String {
    format!(
        r#"{{"claudeAiOauth":{{"accessToken":"fake-token","refreshToken":"fake",
            "expiresAt":4102444800000,"scopes":[{scopes}],"subscriptionType":"pro"}}}}"#
    )
}

#[test]
fn complete_file_passes() {
    let output = check(
        "ok",
        &file(r#""user:inference","user:profile","user:sessions:claude_code""#),
    );
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).ends_with(": ok\n"));
}

#[test]
fn old_login_fails_naming_the_scope() {
    let output = check("old", &file(r#""user:inference","user:profile""#));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("user:sessions:claude_code"), "{stderr}");
    assert!(!stderr.contains("fake-token"), "{stderr}");
}

#[test]
fn invalid_json_and_missing_file_fail() {
    let output = check("json", "{not json");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid JSON"));

    let output = check_path(PathBuf::from("/nonexistent/credentials.json"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/credentials.json"));
}
