//! Listing recordings through the Alfresco Search API (docs/files.md#get-audio-df), with the original's AFTS
//! query, its count request and paging, plus what it lacked: a sort order (so that pages do
//! not overlap or leave gaps), de-duplication by node id with a second pass when entries are
//! missing, retries with backoff on 5xx, 429 and timeouts, and malformed entries reported
//! instead of failing the listing. The limit keeps exactly that many entries (the original
//! kept one more).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::{AlfrescoConfig, AlfrescoError};

/// Largest page the server accepts.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// What to search for.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// `sipecam:CumulusName` filter.
    pub cumulus: Option<String>,
    /// `sipecam:SampleRate` filter.
    pub sample_rate: Option<f64>,
    /// Further AFTS clause, ANDed to the others.
    pub extra: Option<String>,
    pub page_size: usize,
    /// Sort fields with their direction (true = ascending).
    pub sort: Vec<(String, bool)>,
    pub limit: Option<usize>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            cumulus: None,
            sample_rate: None,
            extra: None,
            page_size: 9000,
            sort: vec![("cm:created".into(), true), ("cm:name".into(), true)],
            limit: None,
        }
    }
}

/// A float as Python prints it (`48000.0`), as the original's query has it.
fn python_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

impl SearchQuery {
    /// The AFTS query of the original pipeline (docs/stages.md#get-audio-df).
    pub fn afts(&self) -> String {
        let mut q = String::from(
            "+TYPE: \"sipecam:audio\" AND -TYPE: \"dummyType\" AND -TYPE: \"dummytype\"",
        );
        let mut filters = Vec::new();
        if let Some(c) = &self.cumulus {
            filters.push(format!("(sipecam:CumulusName:\"{c}\")"));
        }
        if let Some(sr) = self.sample_rate {
            filters.push(format!("(sipecam:SampleRate:{})", python_float(sr)));
        }
        if let Some(x) = &self.extra {
            filters.push(format!("({x})"));
        }
        if !filters.is_empty() {
            q.push_str(" AND ");
            q.push_str(&filters.join(" AND "));
        }
        q
    }

    fn body(&self, max_items: usize, skip: usize, with_rows: bool) -> Value {
        let mut b = json!({
            "query": {"query": self.afts(), "language": "afts"},
            "paging": {"maxItems": max_items, "skipCount": skip},
        });
        if with_rows {
            b["include"] = json!(["path", "properties"]);
            b["sort"] = Value::Array(
                self.sort
                    .iter()
                    .map(|(f, asc)| json!({"type": "FIELD", "field": f, "ascending": asc}))
                    .collect(),
            );
        }
        b
    }
}

/// The result of a listing.
#[derive(Debug, Default)]
pub struct SearchOutcome {
    /// Distinct entries (`entry` objects), in result order.
    pub entries: Vec<Value>,
    /// `totalItems` the server reported.
    pub total: usize,
    pub requests: usize,
    /// Entries seen twice (dropped).
    pub duplicates: usize,
    /// Rows of the result without an `entry.id`: (position in the result, reason).
    pub malformed: Vec<(usize, String)>,
    pub warnings: Vec<String>,
}

pub struct SearchClient {
    cfg: AlfrescoConfig,
    http: reqwest::Client,
}

impl SearchClient {
    pub fn new(cfg: AlfrescoConfig) -> Result<SearchClient, AlfrescoError> {
        let http = cfg.http()?;
        Ok(SearchClient { cfg, http })
    }

    async fn post(&self, body: &Value) -> Result<Value, AlfrescoError> {
        let url = self.cfg.search_url();
        self.cfg
            .retry
            .run("alfresco search", || async {
                let mut req = self.http.post(&url).json(body);
                if let Some(k) = &self.cfg.api_key {
                    req = req.header("x-api-key", k.expose());
                }
                if let (Some(u), Some(p)) = (&self.cfg.user, &self.cfg.password) {
                    req = req.basic_auth(u, Some(p.expose()));
                }
                let resp = req.send().await.map_err(|e| AlfrescoError::Network {
                    url: url.clone(),
                    detail: if e.is_timeout() {
                        "timed out".into()
                    } else {
                        format!("{e}")
                    },
                })?;
                let status = resp.status().as_u16();
                let text = resp.text().await.map_err(|e| AlfrescoError::Network {
                    url: url.clone(),
                    detail: format!("reading the answer: {e}"),
                })?;
                if status != 200 {
                    return Err(AlfrescoError::Status {
                        url: url.clone(),
                        status,
                        body: text.chars().take(300).collect(),
                    });
                }
                serde_json::from_str(&text).map_err(|e| AlfrescoError::Protocol {
                    url: url.clone(),
                    detail: format!("not JSON: {e}"),
                })
            })
            .await
    }

    fn total_of(&self, v: &Value) -> Option<usize> {
        v.pointer("/list/pagination/totalItems")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
    }

    /// Lists every entry of the query.
    pub async fn search_all(&self, q: &SearchQuery) -> Result<SearchOutcome, AlfrescoError> {
        let page = q.page_size.clamp(1, MAX_PAGE_SIZE);
        let count = self.post(&q.body(1, 0, false)).await?;
        let mut out = SearchOutcome {
            total: self
                .total_of(&count)
                .ok_or_else(|| AlfrescoError::Protocol {
                    url: self.cfg.search_url(),
                    detail: "no list.pagination.totalItems in the count answer".into(),
                })?,
            requests: 1,
            ..Default::default()
        };
        let wanted = q.limit.map_or(out.total, |l| l.min(out.total));
        let mut seen = HashSet::new();
        let mut position = 0usize;
        for pass in 0..2 {
            if out.entries.len() >= wanted {
                break;
            }
            if pass == 1 {
                out.warnings.push(format!(
                    "first pass listed {} of {} entries; paging again",
                    out.entries.len(),
                    out.total
                ));
            }
            let mut skip = 0;
            while skip < out.total && out.entries.len() < wanted {
                let v = self.post(&q.body(page, skip, true)).await?;
                out.requests += 1;
                if let Some(t) = self.total_of(&v) {
                    if t != out.total {
                        out.warnings.push(format!(
                            "the result set changed during paging: {} then {t} entries",
                            out.total
                        ));
                        out.total = t;
                    }
                }
                let rows = v
                    .pointer("/list/entries")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if rows.is_empty() {
                    break;
                }
                skip += rows.len();
                for row in rows {
                    let here = position;
                    position += 1;
                    let Some(entry) = row.get("entry").filter(|e| e.is_object()) else {
                        out.malformed.push((here, "no 'entry' object".into()));
                        continue;
                    };
                    let Some(id) = entry.get("id").and_then(Value::as_str) else {
                        out.malformed.push((here, "entry without an 'id'".into()));
                        continue;
                    };
                    if !seen.insert(id.to_string()) {
                        if pass == 0 {
                            out.duplicates += 1;
                        }
                        continue;
                    }
                    if out.entries.len() < wanted {
                        out.entries.push(entry.clone());
                    }
                }
                let more = v
                    .pointer("/list/pagination/hasMoreItems")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if !more {
                    break;
                }
            }
            if !out.malformed.is_empty() {
                break; // malformed rows count towards the total: a second pass cannot help
            }
        }
        let missing = wanted.saturating_sub(out.entries.len() + out.malformed.len());
        if missing > 0 {
            out.warnings.push(format!(
                "{missing} of {} entries could not be listed",
                out.total
            ));
        }
        tracing::info!(
            total = out.total,
            listed = out.entries.len(),
            requests = out.requests,
            duplicates = out.duplicates,
            malformed = out.malformed.len(),
            "alfresco search"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_the_original_one() {
        let q = SearchQuery {
            cumulus: Some("92".into()),
            sample_rate: Some(48000.0),
            ..Default::default()
        };
        assert_eq!(
            q.afts(),
            "+TYPE: \"sipecam:audio\" AND -TYPE: \"dummyType\" AND -TYPE: \"dummytype\" AND (sipecam:CumulusName:\"92\") AND (sipecam:SampleRate:48000.0)"
        );
        let b = q.body(1, 0, false);
        assert!(b.get("include").is_none() && b.get("sort").is_none());
        let b = q.body(50, 100, true);
        assert_eq!(b["paging"], json!({"maxItems": 50, "skipCount": 100}));
        assert_eq!(b["sort"][0]["field"], "cm:created");
    }
}
