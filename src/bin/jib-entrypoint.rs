//! `jib-entrypoint`: the image's ENTRYPOINT (see `jib_image::shim`).

fn main() {
    let command: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(jib_image::shim::run(command));
}
