//! What a command did, or why it failed, as it is printed.

use serde_json::Value;

use super::Failure;

/// What a command did: JSON (printed as is with `--json`) and a line for
/// people.
pub struct Done {
    pub json: Value,
    pub human: String,
}

/// An answer as `--json` prints it.
pub fn to_json<T: serde::Serialize>(answer: &T) -> Value {
    serde_json::to_value(answer).unwrap_or(Value::Null)
}

/// Prints what a command did, or why it failed, and gives its exit code.
pub fn report(outcome: Result<Done, Failure>, json: bool, quiet: bool) -> i32 {
    match outcome {
        Ok(done) => {
            if json {
                println!("{}", done.json);
            } else if !quiet {
                println!("{}", done.human);
            }
            0
        }
        Err(f) => {
            if json {
                println!("{}", f.to_json());
            }
            eprintln!("signet: {f}");
            f.exit as i32
        }
    }
}
