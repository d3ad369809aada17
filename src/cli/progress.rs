//! The binary's [`Reporter`]: indicatif bars (bytes, rate, ETA) when stderr
//! is a terminal, one plain line per step otherwise, nothing under `-q`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use jib_image::progress::Reporter;

pub enum Progress {
    Quiet,
    Lines,
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
}

impl Progress {
    /// The reporter fitting `-q` and where stderr goes.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Progress::Lines
        }
    }
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .expect("the template is valid")
}

impl Reporter for Progress {
    fn step(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines => eprintln!("{text}"),
            Progress::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
        }
    }

    fn start(&self, id: &str, text: &str, total: Option<u64>) {
        match self {
            Progress::Quiet => {}
            Progress::Lines => eprintln!("{text}"),
            Progress::Bars { multi, bars } => {
                let bar = match total {
                    Some(total) => ProgressBar::new(total).with_style(bytes_style()),
                    None => ProgressBar::new_spinner(),
                };
                let bar = multi.add(bar.with_message(text.to_string()));
                bars.lock()
                    .expect("progress lock")
                    .insert(id.to_string(), bar);
            }
        }
    }

    fn advance(&self, id: &str, bytes: u64) {
        if let Progress::Bars { bars, .. } = self
            && let Some(bar) = bars.lock().expect("progress lock").get(id)
        {
            bar.inc(bytes);
        }
    }

    fn finish(&self, id: &str) {
        if let Progress::Bars { multi, bars } = self
            && let Some(bar) = bars.lock().expect("progress lock").remove(id)
        {
            bar.finish_and_clear();
            let _ = multi.println(bar.message());
        }
    }
}
