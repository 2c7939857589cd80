//! The search client against the fake Alfresco: paging, sort, retries, limits, malformed rows.

use std::time::Duration;

use alfresco_fake::{sipecam_entry, FakeAlfresco, Fault, State};
use serde_json::Value;
use soundscape_alfresco::{AlfrescoConfig, RetryPolicy, SearchClient, SearchQuery, Secret};

fn entries(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let cumulus = if i % 5 == 4 { "95" } else { "92" };
            sipecam_entry(
                &format!("id-{i:04}"),
                cumulus,
                "1_92_1_0001",
                "SER1",
                "2021-08-04",
                &format!("A_20210804_{:06}.WAV", i * 100),
                "2021-08-04T05:50:00.000-0500",
                48000.0,
                60.0,
            )
        })
        .collect()
}

fn config(fake: &FakeAlfresco) -> AlfrescoConfig {
    let mut c = AlfrescoConfig::new(&fake.url());
    c.api_key = Some(Secret::new("k3y"));
    c.retry = RetryPolicy::fast();
    c.timeout = Duration::from_millis(500);
    c
}

fn query(page: usize) -> SearchQuery {
    SearchQuery {
        cumulus: Some("92".into()),
        sample_rate: Some(48000.0),
        page_size: page,
        ..Default::default()
    }
}

async fn fake(n: usize) -> FakeAlfresco {
    let mut s = State::with_entries(entries(n));
    s.api_key = Some("k3y".into());
    FakeAlfresco::start(s).await.unwrap()
}

#[tokio::test]
async fn three_pages_sorted_exactly_once() {
    let fake = fake(50).await; // 40 in cumulus 92
    let client = SearchClient::new(config(&fake)).unwrap();
    let out = client.search_all(&query(15)).await.unwrap();
    assert_eq!(out.total, 40);
    assert_eq!(out.entries.len(), 40);
    assert_eq!(out.requests, 1 + 3, "count request + 3 pages");
    assert_eq!(out.duplicates, 0);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let s = fake.state();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert!(s.seen.iter().all(|r| r.api_key.as_deref() == Some("k3y")));
    let page = &s.seen[1].body;
    assert_eq!(page["include"], serde_json::json!(["path", "properties"]));
    assert_eq!(page["sort"][0]["field"], "cm:created");
    assert_eq!(s.seen[0].body.get("include"), None);
}

#[tokio::test]
async fn a_504_and_a_timeout_succeed_on_retry() {
    let fake = fake(30).await;
    {
        let mut s = fake.state();
        s.faults.push_back(Fault::Status(504));
        s.faults.push_back(Fault::Delay(Duration::from_secs(2)));
        s.faults.push_back(Fault::Status(503));
    }
    let client = SearchClient::new(config(&fake)).unwrap();
    let out = client.search_all(&query(10)).await.unwrap();
    assert_eq!(out.entries.len(), 24);
    assert!(fake.state().faults.is_empty());
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fake = fake(5).await;
    let mut c = config(&fake);
    c.api_key = Some(Secret::new("wrong"));
    let err = SearchClient::new(c)
        .unwrap()
        .search_all(&query(10))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(fake.state().seen.len(), 1);
}

#[tokio::test]
async fn unsorted_paging_is_caught() {
    // Without a sort the fake, like an unsorted Solr result, changes order between pages:
    // the de-duplication and second pass still list every entry once.
    let fake = fake(50).await;
    let client = SearchClient::new(config(&fake)).unwrap();
    let q = SearchQuery {
        sort: vec![],
        ..query(15)
    };
    let out = client.search_all(&q).await.unwrap();
    let mut ids: Vec<&str> = out
        .entries
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), out.entries.len(), "no entry twice");
    eprintln!(
        "dups {} warnings {:?} listed {}",
        out.duplicates,
        out.warnings,
        out.entries.len()
    );
    assert!(
        out.duplicates > 0,
        "the unsorted fake should have repeated entries"
    );
    assert_eq!(
        out.entries.len(),
        40,
        "the second pass finds what paging skipped"
    );
}

#[tokio::test]
async fn limit_keeps_exactly_that_many() {
    let fake = fake(50).await;
    let client = SearchClient::new(config(&fake)).unwrap();
    let out = client
        .search_all(&SearchQuery {
            limit: Some(7),
            ..query(5)
        })
        .await
        .unwrap();
    assert_eq!(out.entries.len(), 7);
}

#[tokio::test]
async fn malformed_rows_are_reported_not_fatal() {
    let mut list = entries(12);
    list[3].as_object_mut().unwrap().remove("id");
    // A row without an id still matches the query; the contract requires ids in answers, so
    // the fake records that violation of its own answer too.
    let mut s = State::with_entries(list);
    s.api_key = Some("k3y".into());
    let fake = FakeAlfresco::start(s).await.unwrap();
    let client = SearchClient::new(config(&fake)).unwrap();
    let out = client.search_all(&query(4)).await.unwrap();
    assert_eq!(out.malformed.len(), 1, "{:?}", out.malformed);
    assert!(out.malformed[0].1.contains("id"));
    assert_eq!(out.entries.len() + out.malformed.len(), out.total);
}
