//! `jib-image completions SHELL` and `jib-image man`: generated from the
//! clap definitions, printed to stdout.

use anyhow::Result;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    pub shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> Result<()> {
    clap_complete::generate(
        args.shell,
        &mut command,
        "jib-image",
        &mut std::io::stdout(),
    );
    Ok(())
}

/// The man page (roff) of the whole command.
pub fn man(command: clap::Command) -> Result<()> {
    clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
    Ok(())
}
