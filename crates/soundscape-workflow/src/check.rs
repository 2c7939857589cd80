//! The generator checks its own DAG before anything is rendered or run: names unique and
//! valid as Kubernetes names, every dependency defined at the same level (run-wide, per unit,
//! final) and no cycles, every parameter used defined, the unit id used only by per-unit
//! steps, and the fan-out output defined.

use std::collections::{HashMap, HashSet};

use crate::spec::{EnvValue, Level, Pipeline, Step};

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Every problem of the spec; empty when it is sound.
pub fn problems(p: &Pipeline) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for s in &p.steps {
        if !names.insert(s.name) {
            out.push(format!("step {} is defined twice", s.name));
        }
        if !dns_label(s.name) {
            out.push(format!("step name {:?} is not a Kubernetes name", s.name));
        }
    }
    for s in &p.steps {
        let batch = format!("{}{}", s.name, crate::argo::BATCH_SUFFIX);
        if s.per_unit() && names.contains(batch.as_str()) {
            out.push(format!(
                "step name {batch:?} is taken by the batch template of {}",
                s.name
            ));
        }
    }
    for reserved in ["main", "unit", "batch"] {
        if names.contains(reserved) {
            out.push(format!(
                "step name {reserved:?} is reserved for the DAG templates"
            ));
        }
    }
    let mut params = HashSet::new();
    for prm in &p.params {
        if !params.insert(prm.name) {
            out.push(format!("parameter {} is defined twice", prm.name));
        }
    }
    for s in &p.steps {
        let mut used: Vec<&str> = s.args.iter().flat_map(|a| a.params()).collect();
        for e in &s.env {
            if let EnvValue::Text(t) = &e.value {
                used.extend(t.params());
                if t.uses_unit() && !s.per_unit() {
                    out.push(format!(
                        "step {}: env {} uses the unit id outside the fan-out",
                        s.name, e.name
                    ));
                }
            }
        }
        if let Some(c) = &s.when {
            used.extend(c.params());
        }
        if let Some(o) = &s.output {
            used.extend(o.path.params());
            if s.per_unit() {
                out.push(format!(
                    "step {}: a per-unit step has no output parameter",
                    s.name
                ));
            }
        }
        for u in used {
            if !params.contains(u) {
                out.push(format!("step {}: parameter {u} is not defined", s.name));
            }
        }
        if !s.per_unit() && s.args.iter().any(|a| a.uses_unit()) {
            out.push(format!(
                "step {}: uses the unit id but is not per unit",
                s.name
            ));
        }
        for d in &s.depends {
            match p.step(d) {
                None => out.push(format!("step {}: depends on {d}, which is not defined", s.name)),
                Some(t) if t.level != s.level => out.push(format!(
                    "step {}: depends on {d} across the fan-out (run-wide, per-unit and final steps do not mix)",
                    s.name
                )),
                _ => {}
            }
        }
    }
    let f = &p.fan_out;
    match p.step(f.step) {
        Some(s)
            if s.level == Level::Run && s.output.as_ref().is_some_and(|o| o.name == f.output) => {}
        _ => out.push(format!(
            "fan-out: run-wide step {} has no output {}",
            f.step, f.output
        )),
    }
    for t in [&f.plan, &f.reports] {
        for u in t.params() {
            if !params.contains(u) {
                out.push(format!("fan-out: parameter {u} is not defined"));
            }
        }
    }
    for level in [Level::Run, Level::Unit, Level::Final] {
        let steps: Vec<&Step> = p.steps_of(level).collect();
        if let Err(cycle) = order(&steps) {
            out.push(format!("cycle among steps: {}", cycle.join(" -> ")));
        }
    }
    out
}

/// The steps of one level in an order that respects the dependencies, or the steps of a cycle.
pub fn order<'a>(steps: &[&'a Step]) -> Result<Vec<&'a Step>, Vec<&'static str>> {
    let by_name: HashMap<&str, &Step> = steps.iter().map(|s| (s.name, *s)).collect();
    let mut done: Vec<&Step> = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 visiting, 2 done
    fn visit<'a>(
        s: &'a Step,
        by_name: &HashMap<&str, &'a Step>,
        state: &mut HashMap<&'static str, u8>,
        done: &mut Vec<&'a Step>,
        path: &mut Vec<&'static str>,
    ) -> Result<(), Vec<&'static str>> {
        match state.get(s.name) {
            Some(2) => return Ok(()),
            Some(1) => {
                let from = path.iter().position(|n| *n == s.name).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(s.name);
                return Err(cycle);
            }
            _ => {}
        }
        state.insert(s.name, 1);
        path.push(s.name);
        for d in &s.depends {
            if let Some(t) = by_name.get(d) {
                visit(t, by_name, state, done, path)?;
            }
        }
        path.pop();
        state.insert(s.name, 2);
        done.push(s);
        Ok(())
    }
    for s in steps {
        visit(s, &by_name, &mut state, &mut done, &mut Vec::new())?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::soundscape;
    use crate::spec::Settings;
    use crate::spec::Text;

    #[test]
    fn the_soundscape_pipeline_is_sound() {
        let p = soundscape(&Settings::default());
        assert_eq!(problems(&p), Vec::<String>::new());
        let run: Vec<&Step> = p.run_steps().collect();
        let names: Vec<&str> = order(&run).unwrap().iter().map(|s| s.name).collect();
        assert_eq!(names, ["get-audio-df", "dirstruct"]);
    }

    #[test]
    fn broken_specs_are_named() {
        let mut p = soundscape(&Settings::default());
        fn step<'a>(p: &'a mut Pipeline, name: &str) -> &'a mut Step {
            p.steps.iter_mut().find(|s| s.name == name).unwrap()
        }
        step(&mut p, "compute-soundscapes").depends = vec!["upload-model"];
        step(&mut p, "spec-n-specvid")
            .args
            .push(Text::Param("nope"));
        step(&mut p, "dirstruct")
            .depends
            .push("compute-soundscapes");
        step(&mut p, "get-audio-df").args.push(Text::Unit);
        let found = problems(&p).join("\n");
        for want in [
            "cycle among steps: compute-soundscapes -> upload-model -> upload-alfresco -> spec-n-specvid -> compute-soundscapes",
            "step spec-n-specvid: parameter nope is not defined",
            "step dirstruct: depends on compute-soundscapes across the fan-out",
            "step get-audio-df: uses the unit id but is not per unit",
        ] {
            assert!(found.contains(want), "{want} not in:\n{found}");
        }
    }
}
