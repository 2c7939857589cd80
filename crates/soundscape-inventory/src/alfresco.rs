//! Alfresco search entries to recordings: the SiPeCaM row parser in docs/files.md#get-audio-df (every column,
//! node, recorder, deployment, the local WebDAV path), with malformed entries turned into row
//! errors that name the entry instead of stopping the listing.

use std::path::{Path, PathBuf};

use serde_json::Value;
use soundscape_core::timefmt::parse_start;
use soundscape_core::{Recording, UnitKey};
use soundscape_table::input::RowError;

use crate::header::probe_file;
use crate::{Listed, ListedRow, StartSource};

/// Where the original mounted the SiPeCaM document library over WebDAV.
pub const DEFAULT_MOUNT: &str = "/shared_volume/webdav_alfresco/Sites/sipecam/documentLibrary";

fn prop<'a>(entry: &'a Value, name: &str) -> Option<&'a Value> {
    entry.pointer("/properties").and_then(|p| p.get(name))
}

fn prop_str(entry: &Value, name: &str) -> Option<String> {
    match prop(entry, name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn prop_f64(entry: &Value, name: &str) -> Option<f64> {
    match prop(entry, name)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses one search entry (position `index` in the result).
pub fn parse_entry(index: usize, entry: &Value, mount: &Path, probe: bool) -> ListedRow {
    let id = entry
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = entry
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let folder = entry
        .pointer("/path/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fail = |reason: String| RowError {
        index,
        id: id.clone(),
        path: PathBuf::from(format!("{folder}/{name}")),
        reason: format!("alfresco entry {id} ({name}): {reason}"),
    };
    if id.is_empty() || name.is_empty() || folder.is_empty() {
        return Err(fail(
            "missing id, name or path (was 'path' included?)".into(),
        ));
    }
    let full = format!("{folder}/{name}");
    let Some(after) = full.split_once("documentLibrary/").map(|(_, a)| a) else {
        return Err(fail(format!(
            "path {full:?} is not under a documentLibrary"
        )));
    };
    let (cumulo, rest) = after.split_once('/').unwrap_or((after, ""));
    let path = mount.join(cumulo).join(rest);
    let required =
        |p: &str| prop_str(entry, p).ok_or_else(|| fail(format!("property {p} is missing")));
    let node = required("sipecam:NomenclatureNode")?;
    let recorder = required("sipecam:SerialNumber")?;
    let original = required("sipecam:DateTimeOriginal")?;
    let start =
        parse_start(&original).map_err(|e| fail(format!("sipecam:DateTimeOriginal: {e}")))?;
    let deployment = folder
        .split("/audio")
        .next()
        .and_then(|d| d.rsplit('/').next())
        .unwrap_or("")
        .to_string();
    let samplerate = prop_f64(entry, "sipecam:SampleRate");
    let header = if probe && path.exists() {
        Some(probe_file(&path).map_err(fail)?)
    } else {
        None
    };
    let warnings = header
        .as_ref()
        .map(|h| h.warnings.clone())
        .unwrap_or_default();
    let channels = prop_f64(entry, "sipecam:NumChannels").map(|c| c as u16);
    let bits = prop_f64(entry, "sipecam:BitsPerSample").map(|b| b as u32);
    Ok(Listed {
        recording: Recording {
            index,
            id,
            path,
            start,
            time_zone: prop_str(entry, "sipecam:Timezone").unwrap_or_default(),
            unit: UnitKey {
                node,
                recorder,
                deployment,
            },
            cumulus: prop_str(entry, "sipecam:CumulusName").or_else(|| Some(cumulo.to_string())),
            latitude: prop_f64(entry, "sipecam:Latitude"),
            longitude: prop_f64(entry, "sipecam:Longitude"),
            declared_duration: prop_f64(entry, "sipecam:Duration"),
            declared_samplerate: samplerate,
        },
        size: prop_f64(entry, "sipecam:FileSize").map(|s| s as u64),
        header,
        start_source: StartSource::Alfresco,
        metadata: Some(entry.clone()),
        declared_format: channels.zip(bits),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alfresco_fake::sipecam_entry;

    #[test]
    fn sipecam_row() {
        let e = sipecam_entry(
            "uuid-1",
            "92",
            "1_92_1_1350",
            "248C7D075B1F7CDB",
            "2021-08-04",
            "A_20210804_055000.WAV",
            "2021-08-04T05:50:00.000-0500",
            48000.0,
            60.0,
        );
        let l = parse_entry(0, &e, Path::new(DEFAULT_MOUNT), false).unwrap();
        let r = &l.recording;
        assert_eq!(r.id, "uuid-1");
        assert_eq!(
            r.path,
            Path::new(DEFAULT_MOUNT)
                .join("92/1_92_1_1350/248C7D075B1F7CDB/2021-08-04/audio/A_20210804_055000.WAV")
        );
        assert_eq!(r.start.to_rfc3339(), "2021-08-04T05:50:00-05:00");
        assert_eq!(
            (r.unit.deployment.as_str(), r.cumulus.as_deref()),
            ("2021-08-04", Some("92"))
        );
        assert_eq!(
            (r.declared_samplerate, r.declared_duration),
            (Some(48000.0), Some(60.0))
        );
        assert_eq!(l.declared_format, Some((1, 16)));
        assert_eq!(r.time_zone, "America/Mexico_City");

        let mut bad = e.clone();
        bad["properties"]
            .as_object_mut()
            .unwrap()
            .remove("sipecam:SerialNumber");
        let err = parse_entry(3, &bad, Path::new("/m"), false).unwrap_err();
        assert!(
            err.reason.contains("uuid-1") && err.reason.contains("SerialNumber"),
            "{}",
            err.reason
        );
        let mut bad = e;
        bad["properties"]["sipecam:DateTimeOriginal"] = "yesterday".into();
        assert!(parse_entry(4, &bad, Path::new("/m"), false).is_err());
    }
}
