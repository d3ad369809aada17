//! `jib-image completions SHELL` and `jib-image man`: generated from the
//! clap definitions, printed to stdout.

use anyhow::Result;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    pub shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "jib-image", &mut script);
    super::write_out(&String::from_utf8_lossy(&script))
}

/// The man page (roff) of the whole command.
pub fn man(command: clap::Command) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    super::write_out(&String::from_utf8_lossy(&page))
}
