//! Tidzam's cascade and decision rule. A selector model gives coarse classes; an expert model
//! named after one of them (say `birds`) has its scores multiplied by that class's probability,
//! its classes becoming children of it (`birds-<label>`). The result is the best class when it
//! beats the best unrelated class (neither itself, its parent nor its child) by more than the
//! margin, a specific child being preferred over its parent when the child beats its own
//! rivals; otherwise `unknown`. With a selector alone the classes are flat and the rule is the
//! best class against the second.

/// The result when no class wins.
pub const UNKNOWN: &str = "unknown";

/// One class of the combined output.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: String,
    /// Index of the parent class (a selector class), for an expert's class.
    pub parent: Option<usize>,
    pub score: f32,
}

/// The selector's classes, then each expert's, weighted by its selector class.
/// `experts`: (index of the selector class, the expert's labels, its scores).
pub fn combine(
    selector: (&[String], &[f32]),
    experts: &[(usize, &[String], &[f32])],
) -> Vec<Class> {
    let (labels, scores) = selector;
    let mut out: Vec<Class> = labels
        .iter()
        .zip(scores)
        .map(|(n, &s)| Class {
            name: n.clone(),
            parent: None,
            score: s,
        })
        .collect();
    for &(parent, labels, scores) in experts {
        let w = out[parent].score;
        let pname = out[parent].name.clone();
        for (n, &s) in labels.iter().zip(scores) {
            out.push(Class {
                name: format!("{pname}-{n}"),
                parent: Some(parent),
                score: w * s,
            });
        }
    }
    out
}

fn related(c: &[Class], a: usize, b: usize) -> bool {
    a == b || c[a].parent == Some(b) || c[b].parent == Some(a)
}

fn best_of(c: &[Class], keep: impl Fn(usize) -> bool) -> Option<usize> {
    (0..c.len())
        .filter(|&i| keep(i))
        .max_by(|&a, &b| c[a].score.total_cmp(&c[b].score).then(b.cmp(&a)))
}

/// Whether class `i` beats every class unrelated to it by more than `margin`.
fn beats(c: &[Class], i: usize, margin: f32) -> bool {
    let rival = best_of(c, |u| !related(c, i, u)).map_or(0.0, |u| c[u].score);
    c[i].score - rival > margin
}

/// The winning class (None: `unknown`): below `min_score` nothing wins.
pub fn decide(c: &[Class], margin: f32, min_score: f32) -> Option<usize> {
    let best = best_of(c, |_| true)?;
    let parent = c[best].parent.unwrap_or(best);
    // The most specific class that wins: the best child of the best class's family first.
    if let Some(child) = best_of(c, |i| c[i].parent == Some(parent)) {
        if c[child].score >= min_score && beats(c, child, margin) {
            return Some(child);
        }
    }
    (c[parent].score >= min_score && beats(c, parent, margin)).then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flat_classes_need_the_margin_over_the_second() {
        let l = names(&["a", "b", "c"]);
        let c = combine((&l, &[0.9, 0.3, 0.1]), &[]);
        assert_eq!(decide(&c, 0.5, 0.1), Some(0));
        let c = combine((&l, &[0.9, 0.5, 0.1]), &[]);
        assert_eq!(decide(&c, 0.5, 0.1), None);
        assert_eq!(decide(&c, 0.2, 0.1), Some(0));
        // Below the lowest score nothing wins, however clear.
        let c = combine((&l, &[0.05, 0.0, 0.0]), &[]);
        assert_eq!(decide(&c, 0.0, 0.1), None);
    }

    #[test]
    fn an_expert_refines_its_selector_class() {
        let sel = names(&["birds", "frogs", "rain"]);
        let birds = names(&["robin", "wren"]);
        // Birds 0.9, robin 0.8 of it: robin 0.72 beats frogs 0.05 and wren 0.09 by > 0.5.
        let c = combine((&sel, &[0.9, 0.05, 0.05]), &[(0, &birds, &[0.8, 0.1])]);
        assert_eq!(c[3].name, "birds-robin");
        assert!((c[3].score - 0.72).abs() < 1e-6);
        assert_eq!(decide(&c, 0.5, 0.1), Some(3));
        // The expert is unsure: robin 0.45 and wren 0.405 (a sibling is a rival): the parent.
        let c = combine((&sel, &[0.9, 0.05, 0.05]), &[(0, &birds, &[0.5, 0.45])]);
        assert_eq!(decide(&c, 0.5, 0.1), Some(0));
        // The selector is unsure between birds and frogs: unknown.
        let c = combine((&sel, &[0.5, 0.45, 0.05]), &[(0, &birds, &[0.9, 0.1])]);
        assert_eq!(decide(&c, 0.5, 0.1), None);
        // The parent is not a rival of its child: birds 0.95 and robin 0.9.
        let c = combine((&sel, &[0.95, 0.0, 0.0]), &[(0, &birds, &[0.95, 0.0])]);
        assert_eq!(
            decide(&c, 0.5, 0.1).map(|i| c[i].name.as_str()),
            Some("birds-robin")
        );
    }
}
