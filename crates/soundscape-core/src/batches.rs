//! The batch plan (`batches.json`): the units of a run cut into batches, so that a workflow of
//! any size fans out over a bounded number of items. get-audio-df writes it beside
//! `units.json`, and `fanout.json` then holds one small item per batch (its number and its audio
//! hours, rounded up), never the unit ids: Argo keeps the fan-out parameter in a pod annotation
//! (256 KB at most) and every fanned-out item adds nodes to the Workflow's status.
//!
//! Batches are runs of consecutive units in manifest order (sorted by unit id), their sizes
//! differing by one at most. The batch size follows from the unit count and the target width:
//! `ceil(units / width)`, so a run with no more units than the width keeps one unit per batch.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::units::UnitsManifest;

pub const BATCHES_FILE: &str = "batches.json";
/// Current version of the plan format.
pub const BATCHES_VERSION: u32 = 1;
/// Batches a run fans out over at most, unless told otherwise.
pub const DEFAULT_WIDTH: usize = 100;

/// One batch: the units one pod per stage works through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub batch: usize,
    pub units: Vec<String>,
    /// Sum of the units' audio durations, seconds.
    pub audio_s: f64,
}

impl Batch {
    /// The batch's audio hours rounded up (at least 1): what step deadlines are sized from.
    pub fn audio_hours(&self) -> u64 {
        ((self.audio_s / 3600.0).ceil() as u64).max(1)
    }
}

/// One item of `fanout.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOutItem {
    pub batch: usize,
    pub hours: u64,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub version: u32,
    pub units: usize,
    /// The target fan-out width the batch size was derived from.
    pub width: usize,
    pub batch_size: usize,
    pub batches: Vec<Batch>,
}

impl BatchPlan {
    /// Cuts the units of `manifest` into batches of `ceil(units / width)` units.
    pub fn new(manifest: &UnitsManifest, width: usize) -> BatchPlan {
        let width = width.max(1);
        let n = manifest.units.len();
        let size = n.div_ceil(width).max(1);
        let batches = manifest
            .units
            .chunks(size)
            .enumerate()
            .map(|(batch, units)| Batch {
                batch,
                units: units.iter().map(|u| u.id.clone()).collect(),
                audio_s: units.iter().map(|u| u.duration_s).sum(),
            })
            .collect();
        BatchPlan {
            version: BATCHES_VERSION,
            units: n,
            width,
            batch_size: size,
            batches,
        }
    }

    pub fn read(path: &Path) -> Result<BatchPlan, String> {
        crate::fsutil::read_versioned_json(path, "a batch plan", BATCHES_VERSION, |p: &Self| {
            p.version
        })
    }

    /// The items the workflow fans out over: one per batch.
    pub fn fanout(&self) -> Vec<FanOutItem> {
        self.batches
            .iter()
            .map(|b| FanOutItem {
                batch: b.batch,
                hours: b.audio_hours(),
            })
            .collect()
    }

    pub fn batch(&self, n: usize) -> Option<&Batch> {
        self.batches.get(n).filter(|b| b.batch == n)
    }

    /// Every unit id in plan order.
    pub fn unit_ids(&self) -> impl Iterator<Item = &str> {
        self.batches
            .iter()
            .flat_map(|b| b.units.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::UnitPath;
    use crate::units::{Unit, UNITS_VERSION};

    fn manifest(n: usize) -> UnitsManifest {
        let units = (0..n)
            .map(|i| Unit {
                id: format!("1/n{i:05}/r/2021-01-01"),
                path: UnitPath {
                    cumulus: "1".into(),
                    node: format!("n{i:05}"),
                    recorder: "r".into(),
                    deployment: "2021-01-01".into(),
                },
                recordings: vec![],
                duration_s: 1800.0,
                unit_dir: None,
                products: vec![],
            })
            .collect();
        UnitsManifest {
            version: UNITS_VERSION,
            source: "test".into(),
            audio_table: "audio.parquet".into(),
            recordings: 0,
            units,
        }
    }

    #[test]
    fn batch_sizes_follow_the_unit_count_and_the_width() {
        for (units, width, size, batches) in [
            (0, 100, 1, 0),
            (1, 100, 1, 1),
            (100, 100, 1, 100),
            (101, 100, 2, 51),
            (20_000, 100, 200, 100),
            (20_001, 100, 201, 100),
        ] {
            let p = BatchPlan::new(&manifest(units), width);
            assert_eq!((p.batch_size, p.batches.len()), (size, batches), "{units}");
            let ids: Vec<&str> = p.unit_ids().collect();
            assert_eq!(ids.len(), units, "every unit once");
            let m = manifest(units);
            assert!(
                ids.iter().zip(&m.units).all(|(a, u)| *a == u.id),
                "in order"
            );
            for (i, b) in p.batches.iter().enumerate() {
                assert_eq!(p.batch(i), Some(b));
            }
        }
    }

    #[test]
    fn fan_out_items_carry_the_audio_hours_rounded_up() {
        let p = BatchPlan::new(&manifest(5), 2);
        assert_eq!(p.batch_size, 3);
        let items = p.fanout();
        assert_eq!(items[0], FanOutItem { batch: 0, hours: 2 });
        assert_eq!(items[1], FanOutItem { batch: 1, hours: 1 });
    }
}
