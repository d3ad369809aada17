//! One file per subcommand: each defines its clap `Args` and a `run`.

pub mod build;
pub mod cache;
pub mod completions;
pub mod creds;
pub mod inspect;
pub mod lock;
pub mod logging;
pub mod progress;
pub mod push;
pub mod verify;

/// Prints an error as one line: the outermost context, then its causes,
/// each separated by `: ` (the way `rg` and `git` report errors).
pub fn report_error(err: &anyhow::Error) {
    let mut line = format!("error: {err}");
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        // Wrappers sometimes repeat their source's text; print it once.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    eprintln!("{}", line.replace('\n', " "));
}
