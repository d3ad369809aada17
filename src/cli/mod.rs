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

/// Writes results to stdout. A reader that went away (`jib-image inspect
/// IMAGE | head`) ends the process quietly, as it does other Unix tools,
/// instead of a panic from `println!`.
pub fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        result => Ok(result?),
    }
}

/// Writes one line of results to stdout; see [`write_out`].
pub fn print_line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    write_out(&format!("{text}\n"))
}

/// Prints an error as one line: the outermost context, then its causes,
/// each separated by `: ` (the way `rg` and `git` report errors).
pub fn report_error(err: &anyhow::Error) {
    let mut line = String::from("error");
    for cause in err.chain() {
        let text = cause.to_string();
        // OS errors in our style: lowercase, without "(os error N)".
        let shown = cause
            .downcast_ref::<std::io::Error>()
            .map_or_else(|| text.clone(), jib_image::plan::io_cause);
        // Wrappers sometimes repeat their source's text; print it once.
        if !line.ends_with(&text) && !line.ends_with(&shown) {
            line.push_str(": ");
            line.push_str(&shown);
        }
    }
    eprintln!("{}", line.replace('\n', " "));
}
