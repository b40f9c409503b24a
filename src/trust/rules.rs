//! Promotion rules' conditions: Rego (v1) expressions over an attestation's
//! in-toto statement, evaluated in process by regorus. A condition is the body
//! of one rule, `holds`, of a module of its own; it holds when the rule is
//! true. Evaluation has a time limit, and nothing reaches outside the process
//! (regorus is built without `http.send` or the runtime builtins).

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

/// How long one condition may run.
const LIMIT: Duration = Duration::from_millis(250);

/// The rule a condition becomes.
const RULE: &str = "data.signet.condition.holds";

/// Why a condition does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// It is false, or undefined on this statement (a field it reads is
    /// absent): in Rego a rule whose body fails is undefined either way.
    NotTrue,
    /// Its evaluation failed (a builtin's error, the time limit).
    Failed(String),
}

impl Unmet {
    /// One line for the gate's details.
    pub fn describe(&self) -> String {
        match self {
            Unmet::NotTrue => "does not hold (false, or a field it reads is absent)".into(),
            Unmet::Failed(why) => format!("failed: {why}"),
        }
    }
}

fn engine(condition: &str) -> anyhow::Result<Engine> {
    let mut e = Engine::new();
    e.set_strict_builtin_errors(true);
    e.set_execution_timer_config(ExecutionTimerConfig {
        limit: LIMIT,
        check_interval: NonZeroU32::new(64).expect("non-zero"),
    });
    e.add_policy(
        "condition.rego".into(),
        format!("package signet.condition\n\nholds if {{\n{condition}\n}}\n"),
    )?;
    Ok(e)
}

/// What the engine says is wrong (`expecting expression`, `could not find
/// function http.send`), without its framing: the line and column it gives
/// are of the module the condition is wrapped in.
fn first_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let said = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("");
    said.trim().chars().take(300).collect()
}

/// Whether `condition` is Rego that compiles as a rule's body.
pub fn compile(condition: &str) -> Result<(), String> {
    let mut e = engine(condition).map_err(|e| first_line(&e))?;
    // Evaluating against an empty input makes the engine resolve every
    // reference and builtin; the answer itself does not matter.
    e.set_input(Value::new_object());
    e.eval_rule(RULE.into()).map_err(|e| first_line(&e))?;
    Ok(())
}

/// Whether `condition` holds on `input`.
pub fn holds(condition: &str, input: &serde_json::Value) -> Result<(), Unmet> {
    let mut e = engine(condition).map_err(|e| Unmet::Failed(first_line(&e)))?;
    let input =
        Value::from_json_str(&input.to_string()).map_err(|e| Unmet::Failed(first_line(&e)))?;
    e.set_input(input);
    match e.eval_rule(RULE.into()) {
        Ok(v) if v == Value::from(true) => Ok(()),
        Ok(_) => Err(Unmet::NotTrue),
        Err(e) => Err(Unmet::Failed(first_line(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_hold_fail_or_are_undefined() {
        let st = json!({"predicate": {"metrics": {"accuracy": 0.93},
            "findings": [{"severity": "low"}, {"severity": "critical"}]}});
        assert_eq!(
            holds("input.predicate.metrics.accuracy >= 0.92", &st),
            Ok(())
        );
        assert_eq!(
            holds("input.predicate.metrics.accuracy >= 0.95", &st),
            Err(Unmet::NotTrue)
        );
        assert_eq!(
            holds("input.predicate.metrics.f1 >= 0.5", &st),
            Err(Unmet::NotTrue)
        );
        let no_critical =
            "count([f | some f in input.predicate.findings; f.severity == \"critical\"]) == 0";
        assert_eq!(holds(no_critical, &st), Err(Unmet::NotTrue));
        assert_eq!(
            holds(no_critical, &json!({"predicate": {"findings": []}})),
            Ok(())
        );
    }

    #[test]
    fn only_rego_compiles() {
        assert!(compile("input.predicate.accuracy >= 0.92").is_ok());
        assert!(compile("input.predicate.builder.id in {\"a\", \"b\"}").is_ok());
        for bad in [
            "accuracy >=",
            "}",
            "http.send({\"url\": \"http://x\"})",
            "nosuch(1)",
        ] {
            assert!(compile(bad).is_err(), "{bad}");
        }
    }
}
