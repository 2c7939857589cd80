//! `POST .../search/versions/1/search`: AFTS conjunctions of `TYPE` and property terms,
//! sorting by `cm:created`, `cm:name` or a property, paging, and `include`.

use std::cmp::Ordering;

use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::contract::Api;
use crate::{error, next_fault, Seen, Shared};

/// A SiPeCaM audio node as the Search API returns it (with `path` and `properties`).
#[allow(clippy::too_many_arguments)]
pub fn sipecam_entry(
    id: &str,
    cumulus: &str,
    node: &str,
    serial: &str,
    deployment: &str,
    name: &str,
    start: &str,
    samplerate: f64,
    duration: f64,
) -> Value {
    let user = json!({"displayName": "ingest", "id": "ingest"});
    json!({
        "id": id,
        "name": name,
        "nodeType": "sipecam:audio",
        "isFolder": false,
        "isFile": true,
        "createdAt": "2022-01-10T12:00:00.000Z",
        "createdByUser": user,
        "modifiedAt": "2022-01-10T12:00:00.000Z",
        "modifiedByUser": user,
        "parentId": format!("folder-{serial}-{deployment}"),
        "content": {"mimeType": "audio/x-wav", "mimeTypeName": "WAV Audio", "sizeInBytes": (samplerate * duration * 2.0) as i64 + 44},
        "path": {
            "name": format!("/Company Home/Sites/sipecam/documentLibrary/{cumulus}/{node}/{serial}/{deployment}/audio"),
            "isComplete": true,
            "elements": [{"id": "root", "name": "Company Home"}],
        },
        "properties": {
            "sipecam:CumulusName": cumulus,
            "sipecam:NomenclatureNode": node,
            "sipecam:SerialNumber": serial,
            "sipecam:DateDeployment": deployment,
            "sipecam:NumChannels": 1,
            "sipecam:BitsPerSample": 16,
            "sipecam:SampleRate": samplerate,
            "sipecam:Duration": duration,
            "sipecam:FileSize": (samplerate * duration * 2.0) as i64 + 44,
            "sipecam:DateTimeOriginal": start,
            "sipecam:Timezone": "America/Mexico_City",
            "sipecam:Latitude": 19.5,
            "sipecam:Longitude": -99.1,
        },
    })
}

/// One AFTS clause: `[+-]FIELD:VALUE` (value quoted or bare).
struct Term {
    negated: bool,
    field: String,
    value: String,
}

fn parse_afts(q: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for clause in q.split(" AND ") {
        let c = clause
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        let (negated, c) = match c.as_bytes().first() {
            Some(b'-') => (true, &c[1..]),
            Some(b'+') => (false, &c[1..]),
            _ => (false, c),
        };
        let (field, value) = if let Some(q0) = c.find('"') {
            let rest = &c[q0 + 1..];
            let q1 = rest
                .find('"')
                .ok_or_else(|| format!("unclosed quote in {clause:?}"))?;
            (c[..q0].trim().trim_end_matches(':'), &rest[..q1])
        } else {
            let i = c
                .rfind(':')
                .ok_or_else(|| format!("no field in {clause:?}"))?;
            (&c[..i], c[i + 1..].trim())
        };
        terms.push(Term {
            negated,
            field: field.trim().to_string(),
            value: value.to_string(),
        });
    }
    Ok(terms)
}

fn field_value<'a>(entry: &'a Value, field: &str) -> Option<&'a Value> {
    match field {
        "TYPE" => entry.get("nodeType"),
        "cm:name" => entry.get("name"),
        "cm:created" => entry.get("createdAt"),
        _ => entry.pointer("/properties").and_then(|p| p.get(field)),
    }
}

fn equals(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => want.parse::<f64>().ok() == n.as_f64(),
        Value::Bool(b) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

fn matches(entry: &Value, terms: &[Term]) -> bool {
    terms.iter().all(|t| {
        let hit = field_value(entry, &t.field).is_some_and(|v| equals(v, &t.value));
        hit != t.negated
    })
}

fn compare(a: &Value, b: &Value, sort: &[(String, bool)]) -> Ordering {
    let key = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    for (field, asc) in sort {
        let o = key(field_value(a, field)).cmp(&key(field_value(b, field)));
        let o = if *asc { o } else { o.reverse() };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub(crate) async fn handle(
    AxState(state): AxState<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("request body is not JSON: {e}")),
    };
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    {
        let mut s = state.lock().unwrap();
        s.seen.push(Seen {
            method: "POST".into(),
            path: "search".into(),
            api_key: api_key.clone(),
            body: body.clone(),
        });
        if s.api_key.is_some() && s.api_key != api_key {
            return error(401, "missing or wrong x-api-key");
        }
        if let Some(r) = s.refuse(Api::Search, "SearchRequest", &body) {
            return r;
        }
    }
    if let Some(r) = next_fault(&state).await {
        return r;
    }
    let terms = match parse_afts(
        body.pointer("/query/query")
            .and_then(Value::as_str)
            .unwrap_or(""),
    ) {
        Ok(t) => t,
        Err(e) => return error(400, &e),
    };
    let max_items = body
        .pointer("/paging/maxItems")
        .and_then(Value::as_u64)
        .unwrap_or(100) as usize;
    let skip = body
        .pointer("/paging/skipCount")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let include: Vec<String> = body
        .get("include")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let sort: Vec<(String, bool)> = body
        .get("sort")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some((
                        s.get("field")?.as_str()?.to_string(),
                        s.get("ascending").and_then(Value::as_bool).unwrap_or(false),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let (mut hits, calls) = {
        let s = state.lock().unwrap();
        let hits: Vec<Value> = s
            .search_entries
            .iter()
            .filter(|e| matches(e, &terms))
            .cloned()
            .collect();
        (hits, s.calls)
    };
    if sort.is_empty() {
        // An unsorted result set has no stable order: rotate it differently on every call.
        if !hits.is_empty() {
            let n = hits.len();
            hits.rotate_left((calls as usize * 7919) % n);
        }
    } else {
        hits.sort_by(|a, b| compare(a, b, &sort));
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .into_iter()
        .skip(skip)
        .take(max_items)
        .map(|mut e| {
            for optional in ["path", "properties"] {
                if !include.iter().any(|i| i == optional) {
                    if let Some(o) = e.as_object_mut() {
                        o.remove(optional);
                    }
                }
            }
            json!({"entry": e})
        })
        .collect();
    let answer = json!({"list": {
        "pagination": {
            "count": page.len(),
            "hasMoreItems": skip + page.len() < total,
            "totalItems": total,
            "skipCount": skip,
            "maxItems": max_items,
        },
        "entries": page,
    }});
    state
        .lock()
        .unwrap()
        .check_answer(Api::Search, "ResultSetPaging", &answer);
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn afts_terms() {
        let t = parse_afts("+TYPE: \"sipecam:audio\" AND -TYPE: \"dummyType\" AND (sipecam:CumulusName:\"92\") AND (sipecam:SampleRate:48000.0)").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[0].field.as_str(), t[0].value.as_str(), t[0].negated),
            ("TYPE", "sipecam:audio", false)
        );
        assert!(t[1].negated);
        assert_eq!(
            (t[3].field.as_str(), t[3].value.as_str()),
            ("sipecam:SampleRate", "48000.0")
        );
        let e = sipecam_entry(
            "a",
            "92",
            "1_92_1_0001",
            "S",
            "2021-08-04",
            "a.WAV",
            "2021-08-04T05:50:00.000-0500",
            48000.0,
            60.0,
        );
        assert!(matches(&e, &t));
        let v = crate::contract::check(Api::Search, "ResultSetRowEntry", &json!({"entry": e}));
        assert!(v.is_empty(), "{v:?}");
    }
}
