//! Secrets: credential files are refused in copied layers unless the layer
//! says `allow_secrets = true`, and no planted password or token ever
//! shows in what the program prints, at any verbosity.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;

use crate::support::check::{BIN, run_bounded, single_error_line};
use crate::support::mock::{Answer, MockServer};
use crate::support::registry::TestRegistry;

/// Fake credentials planted by these tests; none is real.
const PLANTED: &str = "planted-Secret-7f3a9c";

fn run(dir: &Path, args: &[&str], env: &[(&str, String)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("xdg"))
        .env("JIB_IMAGE_CACHE", dir.join("cache"))
        .env("HOME", dir)
        .env("DOCKER_CONFIG", dir.join("no-docker"))
        .env("JIB_IMAGE_TIMEOUT", "5");
    for (k, v) in env {
        command.env(k, v);
    }
    match stdin {
        None => run_bounded(&mut command, Duration::from_secs(120)),
        Some(text) => {
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

/// Fails when any form of `secret` appears in the run's output.
fn assert_hidden(what: &str, output: &Output, secret: &str) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let forms = [
        secret.to_string(),
        b64(secret),
        b64(&format!("tester:{secret}")),
        b64(&format!("user:{secret}")),
    ];
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{what}: the secret shows in the output:\n{text}"
            );
        }
    }
}

#[test]
fn credential_files_are_refused_in_copied_layers() {
    let files: &[(&str, &str, &str)] = &[
        (
            ".credentials.json",
            "{\"claudeAiOauth\":{}}",
            "OAuth credentials",
        ),
        ("id_ed25519", "key", "SSH private key"),
        (
            "server.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "private key",
        ),
        (
            ".npmrc",
            "//registry.invalid/:_authToken=planted\n",
            ".npmrc with a token",
        ),
        (
            "config.json",
            "{\"auths\":{\"registry.invalid\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
            "registry auth file",
        ),
        (".env", "API_KEY=planted\n", "environment file"),
        (".env.production", "API_KEY=planted\n", "environment file"),
    ];
    for (name, content, kind) in files {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree/sub");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join(name), content).unwrap();
        std::fs::write(tree.join("ok.txt"), "fine").unwrap();
        let spec = |allow: bool| {
            format!(
                "[[layers]]\nname = \"files\"\nallow_secrets = {allow}\n\
                 [[layers.copy]]\nsrc = \"tree\"\ndest = \"/opt/tree\"\n"
            )
        };
        std::fs::write(dir.path().join("spec.toml"), spec(false)).unwrap();
        let out = dir.path().join("out").display().to_string();
        let output = run(
            dir.path(),
            &["-q", "build", "spec.toml", "-o", &format!("oci:{out}")],
            &[],
            None,
        );
        let line = single_error_line(&output);
        assert!(
            line.contains(name) && line.contains(kind) && line.contains("allow_secrets"),
            "{name}: {line}"
        );
        assert!(!dir.path().join("out").exists());
        assert_hidden(name, &output, "dXNlcjpwYXNz");

        std::fs::write(dir.path().join("spec.toml"), spec(true)).unwrap();
        let output = run(
            dir.path(),
            &["-q", "build", "spec.toml", "-o", &format!("oci:{out}")],
            &[],
            None,
        );
        assert!(output.status.success(), "{name} allowed: {output:?}");
    }
}

fn everything_printed(extra: &[(&str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![("RUST_LOG", "trace".to_string())];
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    env.into_iter().map(|(k, v)| (leak(k), v)).collect()
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

#[test]
fn registry_passwords_never_show() {
    let Some(registry) = TestRegistry::start_with_htpasswd("tester", "right-password") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    crate::support::layout::write_image_layout(&layout, "s", "latest");
    let source = format!("oci:{}", layout.display());
    let target = format!("{}/secret/test:1", registry.host);
    let env = everything_printed(&[]);

    // A wrong password given on standard input.
    let output = run(
        dir.path(),
        &[
            "-vv",
            "push",
            &source,
            &target,
            "--username",
            "tester",
            "--password-stdin",
        ],
        &env,
        Some(&format!("{PLANTED}\n")),
    );
    assert!(!output.status.success());
    assert_hidden("--password-stdin", &output, PLANTED);

    // A wrong password stored in a docker config.json.
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("tester:{PLANTED}"));
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            registry.host
        ),
    )
    .unwrap();
    let mut env = env.clone();
    env.push(("DOCKER_CONFIG", docker.display().to_string()));
    let output = run(dir.path(), &["-vv", "push", &source, &target], &env, None);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert_hidden("docker config.json", &output, PLANTED);
}

#[test]
fn npm_tokens_and_url_passwords_never_show() {
    for status in [401u16, 500] {
        let mock = MockServer::start();
        mock.route(
            "/tool",
            Answer::Status(status, b"{\"error\":\"no\"}".to_vec()),
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("spec.toml"),
            "[[layers]]\nname = \"tool\"\n[layers.npm]\npackage = \"tool\"\n\
             version = \"1.0.0\"\nlibc = \"glibc\"\nintegrity = \"sha512-pKvURIxJVi2CgRXROh/M6pJ/UrTVRZKX+LQ+QtqJI4vBNibkPcs43bCCSIkn7JBPtCBXRDmD6IWFF51QVRr+Yg==\"\n",
        )
        .unwrap();
        let npmrc = dir.path().join("user-npmrc");
        std::fs::write(
            &npmrc,
            format!("//127.0.0.1:{}/:_authToken={PLANTED}\n", mock.port),
        )
        .unwrap();
        let env = everything_printed(&[
            ("NPM_CONFIG_REGISTRY", mock.url()),
            ("NPM_CONFIG_USERCONFIG", npmrc.display().to_string()),
        ]);
        let output = run(dir.path(), &["-vv", "build", "spec.toml"], &env, None);
        assert!(!output.status.success());
        assert_hidden(".npmrc _authToken", &output, PLANTED);
        // The token did reach the registry: it was used, only never shown.
        assert!(
            mock.seen()
                .iter()
                .any(|(_, auth)| auth.as_deref() == Some(&format!("Bearer {PLANTED}"))),
            "{:?}",
            mock.seen()
        );

        // A registry URL with a password in it.
        let url = format!("http://user:{PLANTED}@127.0.0.1:{}/", mock.port);
        let env = everything_printed(&[
            ("NPM_CONFIG_REGISTRY", url),
            (
                "NPM_CONFIG_USERCONFIG",
                dir.path().join("none").display().to_string(),
            ),
        ]);
        let output = run(dir.path(), &["-vv", "build", "spec.toml"], &env, None);
        assert!(!output.status.success());
        assert_hidden("registry URL userinfo", &output, PLANTED);
    }
}
