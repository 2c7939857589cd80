//! The rules file (`rules.json`): which detections become clips, how long the clips are, with
//! what probability they are taken, and where they go. The keys follow Tidzam's recorder rules
//! (`channels`, `classes`, `dst`, `length`, `rate`, `object_filter`) with a few additions
//! (`name`, `sources`, `min_score`, `format`).
//!
//! ```json
//! {"seed": 7,
//!  "rules": [{"name": "thrushes", "sources": ["tidmarsh-*"], "channels": [0, 1],
//!             "classes": ["Turdus *"], "length": 3.0, "rate": "auto", "object_filter": true}]}
//! ```

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

/// Clip length when a rule gives none, seconds (Tidzam's).
pub const DEFAULT_LENGTH_S: f64 = 0.5;

/// The whole rules file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Seed of the draws (the command line's `--seed` wins).
    #[serde(default)]
    pub seed: Option<u64>,
    pub rules: Vec<Rule>,
}

/// How likely a matching detection is to be extracted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// A fixed probability in [0, 1].
    Fixed(f64),
    /// The inverse of the class's share among the clips already stored under the rule's
    /// folder, relative to an even share: `min(1, mean count / class count)`, 1 for a class
    /// with no clip yet.
    Auto,
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::Fixed(p) => s.serialize_f64(*p),
            Rate::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(p) if (0.0..=1.0).contains(&p) => Ok(Rate::Fixed(p)),
            Raw::Number(p) => Err(serde::de::Error::custom(format!(
                "rate {p} is not a probability between 0 and 1"
            ))),
            Raw::Text(t) if t == "auto" => Ok(Rate::Auto),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "rate \"{t}\" is neither a number between 0 and 1 nor \"auto\""
            ))),
        }
    }
}

/// Which channels a rule takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Channels {
    /// Channel numbers, from 0.
    List(Vec<u32>),
    /// `"*"`: every channel.
    All(String),
}

/// Sample format of the clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// 16-bit PCM WAV.
    #[default]
    Pcm16,
    /// 32-bit float WAV (the decoded samples unchanged).
    Float,
}

/// One rule. A detection is handled by the first rule that matches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name written into the sidecars and the report (default `rule-N`, from 1).
    #[serde(default)]
    pub name: String,
    /// Patterns (`*`, `?`, `[..]`, case-insensitive) of the sources: a recording's
    /// `recorder`, its id, or its stream source (the id before `_chNN_` or the start stamp).
    /// Default: all.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Channels to take (default: all).
    #[serde(default)]
    pub channels: Option<Channels>,
    /// Patterns of the classes, matched against the label, the scientific and the common name.
    pub classes: Vec<String>,
    /// Lowest score taken (default: the detections the stage marked above its threshold).
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Clip length, seconds, centred on the detection.
    #[serde(default = "default_length")]
    pub length: f64,
    /// Extraction probability, or `"auto"` (default 1).
    #[serde(default = "default_rate")]
    pub rate: Rate,
    /// Skip clips whose sound lies at their borders (more than a quarter of the spectrogram
    /// cells within 20 dB of the clip's peak fall in the first or last eighth of the clip).
    #[serde(default)]
    pub object_filter: bool,
    /// Folder of the clips under the output folder (default `unchecked`).
    #[serde(default = "default_dst")]
    pub dst: String,
    #[serde(default)]
    pub format: Format,
}

fn default_length() -> f64 {
    DEFAULT_LENGTH_S
}

fn default_rate() -> Rate {
    Rate::Fixed(1.0)
}

fn default_dst() -> String {
    "unchecked".into()
}

/// What a detection offers to the rules.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The names a source pattern is matched against.
    pub sources: &'a [&'a str],
    pub channel: u32,
    /// Label, scientific and common name.
    pub names: [&'a str; 3],
    pub score: f32,
    pub above_threshold: bool,
}

/// The rules, checked and with their patterns compiled.
#[derive(Debug, Clone)]
pub struct Rules {
    pub set: RuleSet,
    sources: Vec<Vec<glob::Pattern>>,
    classes: Vec<Vec<glob::Pattern>>,
}

fn compile(patterns: &[String], what: &str, rule: &str) -> Result<Vec<glob::Pattern>, String> {
    patterns
        .iter()
        .map(|p| {
            glob::Pattern::new(p).map_err(|e| format!("rule {rule}: {what} pattern {p:?}: {e}"))
        })
        .collect()
}

fn matches_any(patterns: &[glob::Pattern], names: &[&str]) -> bool {
    let opts = glob::MatchOptions {
        case_sensitive: false,
        require_literal_separator: false,
        require_literal_leading_dot: false,
    };
    patterns.iter().any(|p| {
        names
            .iter()
            .any(|n| !n.is_empty() && p.matches_with(n, opts))
    })
}

impl Rules {
    /// Reads and checks a rules file.
    pub fn read(path: &Path) -> Result<Rules, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let set: RuleSet = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a rules file: {e}", path.display()))?;
        Rules::new(set).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks the rules: names unique, lengths positive, class patterns given, folders inside
    /// the output folder.
    pub fn new(mut set: RuleSet) -> Result<Rules, String> {
        let mut sources = Vec::new();
        let mut classes = Vec::new();
        for (i, r) in set.rules.iter_mut().enumerate() {
            if r.name.is_empty() {
                r.name = format!("rule-{}", i + 1);
            }
            let name = r.name.clone();
            if !(r.length.is_finite() && r.length > 0.0) {
                return Err(format!(
                    "rule {name}: length {} is not a positive number of seconds",
                    r.length
                ));
            }
            if r.classes.is_empty() {
                return Err(format!(
                    "rule {name}: no classes (give [\"*\"] for every class)"
                ));
            }
            if let Some(Channels::All(s)) = &r.channels {
                if s != "*" {
                    return Err(format!(
                        "rule {name}: channels must be a list of numbers or \"*\", not {s:?}"
                    ));
                }
            }
            let dst = Path::new(&r.dst);
            if r.dst.is_empty() || !dst.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(format!(
                    "rule {name}: dst {:?} must be a relative folder inside the output folder",
                    r.dst
                ));
            }
            sources.push(compile(&r.sources, "source", &name)?);
            classes.push(compile(&r.classes, "class", &name)?);
        }
        let mut names: Vec<_> = set.rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two rules are named {}", w[0]));
        }
        Ok(Rules {
            set,
            sources,
            classes,
        })
    }

    /// The first rule that takes this detection, by its place in the file.
    pub fn first_match(&self, c: &Candidate) -> Option<usize> {
        self.set.rules.iter().enumerate().position(|(i, r)| {
            let score_ok = match r.min_score {
                Some(m) => c.score >= m,
                None => c.above_threshold,
            };
            let channel_ok = match &r.channels {
                Some(Channels::List(l)) => l.contains(&c.channel),
                _ => true,
            };
            let source_ok = self.sources[i].is_empty() || matches_any(&self.sources[i], c.sources);
            score_ok && channel_ok && source_ok && matches_any(&self.classes[i], &c.names)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Result<Rules, String> {
        Rules::new(serde_json::from_str(json).map_err(|e| e.to_string())?)
    }

    fn cand<'a>(
        names: [&'a str; 3],
        channel: u32,
        score: f32,
        sources: &'a [&'a str],
    ) -> Candidate<'a> {
        Candidate {
            sources,
            channel,
            names,
            score,
            above_threshold: score >= 0.5,
        }
    }

    #[test]
    fn defaults_and_first_match() {
        let r = rules(
            r#"{"rules": [
                {"classes": ["Turdus *"], "channels": [1], "rate": "auto"},
                {"name": "any bird", "classes": ["*robin*"], "min_score": 0.2, "length": 3}
            ]}"#,
        )
        .unwrap();
        assert_eq!(r.set.rules[0].name, "rule-1");
        assert_eq!(r.set.rules[0].length, DEFAULT_LENGTH_S);
        assert_eq!(r.set.rules[0].rate, Rate::Auto);
        assert_eq!(r.set.rules[1].rate, Rate::Fixed(1.0));
        assert_eq!(r.set.rules[1].dst, "unchecked");
        let robin = [
            "Turdus migratorius_American Robin",
            "Turdus migratorius",
            "American Robin",
        ];
        let src: &[&str] = &["site-a"];
        assert_eq!(r.first_match(&cand(robin, 1, 0.9, src)), Some(0));
        // Another channel: the second rule, by the common name, case-insensitively.
        assert_eq!(r.first_match(&cand(robin, 0, 0.9, src)), Some(1));
        // Below the stage's threshold but above the rule's.
        assert_eq!(r.first_match(&cand(robin, 0, 0.3, src)), Some(1));
        assert_eq!(r.first_match(&cand(robin, 0, 0.1, src)), None);
        assert_eq!(
            r.first_match(&cand(["Corvus corax_Common Raven", "", ""], 1, 0.9, src)),
            None
        );
    }

    #[test]
    fn sources_match_any_name() {
        let r = rules(r#"{"rules": [{"classes": ["*"], "sources": ["tidmarsh-*"]}]}"#).unwrap();
        let names = ["x", "", ""];
        assert_eq!(
            r.first_match(&cand(
                names,
                0,
                0.9,
                &["R1", "tidmarsh-north_ch01_20250101_000000"]
            )),
            Some(0)
        );
        assert_eq!(r.first_match(&cand(names, 0, 0.9, &["R1", "other"])), None);
    }

    #[test]
    fn bad_rules_are_refused() {
        for (json, needle) in [
            (
                r#"{"rules": [{"classes": ["*"], "rate": 1.5}]}"#,
                "probability",
            ),
            (
                r#"{"rules": [{"classes": ["*"], "rate": "often"}]}"#,
                "auto",
            ),
            (r#"{"rules": [{"classes": []}]}"#, "no classes"),
            (r#"{"rules": [{"classes": ["*"], "length": 0}]}"#, "length"),
            (
                r#"{"rules": [{"classes": ["*"], "dst": "../x"}]}"#,
                "inside",
            ),
            (
                r#"{"rules": [{"classes": ["*"], "dst": "/tmp"}]}"#,
                "inside",
            ),
            (
                r#"{"rules": [{"classes": ["*"], "channels": "all"}]}"#,
                "channels",
            ),
            (r#"{"rules": [{"classes": ["[a"]}]}"#, "pattern"),
            (
                r#"{"rules": [{"classes": ["*"], "name": "a"}, {"classes": ["*"], "name": "a"}]}"#,
                "two rules",
            ),
            (
                r#"{"rules": [{"classes": ["*"], "colour": "red"}]}"#,
                "unknown field",
            ),
        ] {
            let e = rules(json).unwrap_err();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }
}
