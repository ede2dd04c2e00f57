//! `forge-sandbox-exec SPEC OUTCOME`: the sandbox monitor alone.
//!
//! `forge` starts a monitor for every sandbox (the process that creates the
//! namespaces must be single-threaded, so it cannot be a thread of the
//! build engine). `forge sandbox __exec` does the same job, but starting the
//! whole `forge` binary costs more than the sandbox's own setup in page
//! faults and relocations; this binary links only `forge-sandbox`. The
//! engine uses it when it sits next to `forge`, and falls back to
//! `forge sandbox __exec` otherwise. Not for people: it takes the spec and
//! outcome paths `forge` gives it.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: forge-sandbox-exec SPEC OUTCOME (started by forge, not by hand)");
        return ExitCode::from(2);
    }
    let code = forge_sandbox::monitor::main(Path::new(&args[1]), Path::new(&args[2]));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
