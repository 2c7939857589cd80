//! Uploads and model properties against the stateful fake Alfresco: exactly once under
//! injected failures, reruns that send nothing, new versions for changed products, and the
//! content model with paging.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alfresco_fake::{Chaos, FakeAlfresco, State};
use soundscape_alfresco::{AlfrescoConfig, RetryPolicy, Secret, Session};
use soundscape_core::products::ProductKind;
use soundscape_core::Status;
use soundscape_upload::alfresco::AlfrescoTarget;
use soundscape_upload::catalog::{select, UnitProducts};
use soundscape_upload::journal::JOURNAL_FILE;
use soundscape_upload::model;
use soundscape_upload::report::UploadReport;
use soundscape_upload::{upload, Existing, Target, UploadOptions};

const PASSWORD: &str = "s3cret-Pa55";

async fn fake() -> (FakeAlfresco, String) {
    let (state, lib) = State::with_site("uploader", PASSWORD, "sipecam-soundscape");
    (FakeAlfresco::start(state).await.unwrap(), lib)
}

fn session(fake: &FakeAlfresco, retry: RetryPolicy) -> Arc<Session> {
    let mut cfg = AlfrescoConfig::new(&fake.url());
    cfg.user = Some("uploader".into());
    cfg.password = Some(Secret::new(PASSWORD));
    cfg.timeout = Duration::from_secs(5);
    cfg.retry = retry;
    Arc::new(Session::new(cfg).unwrap())
}

fn units(root: &Path) -> Vec<UnitProducts> {
    select(Some(root), &[], &ProductKind::ALL).unwrap()
}

async fn run(
    fake: &FakeAlfresco,
    lib: &str,
    root: &Path,
    retry: RetryPolicy,
    opts: UploadOptions,
) -> UploadReport {
    let targets = [Target::Alfresco(AlfrescoTarget::new(
        session(fake, retry),
        lib,
    ))];
    let mut report = UploadReport::new("t", "0");
    upload(&units(root), &targets, &opts, &mut report, |_| {}).await;
    report.finish();
    report
}

/// Every local product is in the fake exactly once, with its content, title and one version.
fn assert_exactly_once(fake: &FakeAlfresco, lib: &str, root: &Path) {
    let expected: Vec<_> = units(root)
        .iter()
        .flat_map(|u| u.contents().unwrap())
        .collect();
    let s = fake.state();
    let diff = s.differences(lib, &expected);
    assert!(diff.is_empty(), "{diff:#?}");
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[tokio::test]
async fn uploads_every_product_once_then_a_rerun_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 3, 2);
    let (fake, lib) = fake().await;
    let r = run(
        &fake,
        &lib,
        dir.path(),
        RetryPolicy::fast(),
        UploadOptions::default(),
    )
    .await;
    assert_eq!(
        (r.summary.total, r.summary.done, r.summary.failed),
        (60, 60, 0),
        "{:#?}",
        r.summary
    );
    assert!(r
        .files
        .iter()
        .all(|o| o.action.as_deref() == Some("created")));
    assert_exactly_once(&fake, &lib, dir.path());
    {
        let s = fake.state();
        // The folders came from relativePath, and nothing that is not a product went up.
        let folder = s
            .repo
            .walk(&lib, "92/1_90_1_1350/240C7D0/2021-08-04")
            .unwrap();
        assert!(s.repo.nodes[&folder].is_folder);
        assert!(s.repo.node_at(&folder, "unit.json").is_none());
        assert!(s.repo.node_at(&folder, "run_report.json").is_none());
        assert!(s.repo.node_at(&folder, JOURNAL_FILE).is_none());
        // The title is a real property, not the original's `properties=cm:title` field.
        let seen = s
            .seen
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/children"))
            .unwrap();
        assert!(
            seen.body["properties"].get("properties").is_none(),
            "{:?}",
            seen.body
        );
        assert_eq!(
            seen.body["relativePath"].as_str().unwrap().chars().next(),
            Some('/')
        );
    }

    // A rerun: the journal lists everything; the server is not even asked.
    let before = fake.state().seen.len();
    let r = run(
        &fake,
        &lib,
        dir.path(),
        RetryPolicy::fast(),
        UploadOptions::default(),
    )
    .await;
    assert_eq!((r.summary.skipped, r.summary.done), (60, 0));
    assert!(r
        .files
        .iter()
        .all(|o| o.action.as_deref() == Some("journaled")));
    assert_eq!(fake.state().seen.len(), before, "a rerun sent requests");

    // Without the journals (a fresh volume), the server is asked and has the same content.
    for u in units(dir.path()) {
        std::fs::remove_file(u.dir.join(JOURNAL_FILE)).unwrap();
    }
    let writes = fake.state().content_writes;
    let r = run(
        &fake,
        &lib,
        dir.path(),
        RetryPolicy::fast(),
        UploadOptions::default(),
    )
    .await;
    assert_eq!(r.summary.skipped, 60);
    assert!(
        r.files.iter().all(|o| o.action.as_deref() == Some("same")),
        "{:#?}",
        r.files[0]
    );
    assert_eq!(fake.state().content_writes, writes);
    assert_exactly_once(&fake, &lib, dir.path());
}

#[tokio::test]
async fn a_changed_product_becomes_a_new_version_or_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let unit_dirs = soundscape_testkit::results_tree(dir.path(), 1, 1);
    let (fake, lib) = fake().await;
    run(
        &fake,
        &lib,
        dir.path(),
        RetryPolicy::fast(),
        UploadOptions::default(),
    )
    .await;
    let png = unit_dirs[0].join("mean_soundscape.png");
    std::fs::write(&png, b"recomputed plot").unwrap();
    let rel = "92/1_90_1_1350/240C7D0/2021-08-04/mean_soundscape.png";

    let keep = UploadOptions {
        existing: Existing::Keep,
        ..Default::default()
    };
    let r = run(&fake, &lib, dir.path(), RetryPolicy::fast(), keep.clone()).await;
    let o = r
        .files
        .iter()
        .find(|o| o.file == "mean_soundscape.png")
        .unwrap();
    assert_eq!(
        (o.status, o.action.as_deref()),
        (Status::Skipped, Some("kept"))
    );
    assert!(o.reason.as_deref().unwrap().contains("--existing keep"));
    assert_eq!(fake.state().repo.node_at(&lib, rel).unwrap().versions, 1);

    let r = run(
        &fake,
        &lib,
        dir.path(),
        RetryPolicy::fast(),
        UploadOptions::default(),
    )
    .await;
    let o = r
        .files
        .iter()
        .find(|o| o.file == "mean_soundscape.png")
        .unwrap();
    assert_eq!(
        (o.status, o.action.as_deref()),
        (Status::Done, Some("replaced"))
    );
    assert_eq!(r.summary.done, 1, "only the changed product goes up");
    let s = fake.state();
    let node = s.repo.node_at(&lib, rel).unwrap();
    assert_eq!(
        (node.versions, node.content.as_slice()),
        (2, &b"recomputed plot"[..])
    );
}

#[tokio::test]
async fn thirty_percent_injected_failures_end_with_every_product_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 3, 2);
    let (fake, lib) = fake().await;
    fake.state().chaos = Some(Chaos::new(0.3, 7));
    let retry = RetryPolicy {
        attempts: 30,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    };
    let r = run(&fake, &lib, dir.path(), retry, UploadOptions::default()).await;
    let failed: Vec<_> = r
        .files
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_exactly_once(&fake, &lib, dir.path());
    let s = fake.state();
    let kinds = |k: &str| s.injected.iter().filter(|i| i.contains(k)).count();
    assert!(
        s.injected.len() > 30,
        "{} failures injected",
        s.injected.len()
    );
    for k in [
        "DropAfter",
        "DropBefore",
        "ExpireTickets",
        "Status(429)",
        "Status(503)",
    ] {
        assert!(kinds(k) > 0, "no {k} among {:?}", s.injected);
    }
    assert!(s.logins > 1, "expired tickets were not renewed");
    // Uploads whose answer was lost were found on the next look, not sent again.
    assert_eq!(s.content_writes, 60);
}

#[tokio::test]
async fn the_content_model_is_set_page_by_page_and_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 2, 3);
    let (fake, lib) = fake().await;
    let session = session(&fake, RetryPolicy::fast());
    let targets = [Target::Alfresco(AlfrescoTarget::new(session.clone(), &lib))];
    let units = units(dir.path());
    let mut r = UploadReport::new("t", "0");
    upload(&units, &targets, &UploadOptions::default(), &mut r, |_| {}).await;

    let opts = model::ModelOptions {
        jobs: 2,
        page_size: 7,
    };
    let mut r = UploadReport::new("m", "0");
    model::apply(&session, &lib, &units, &opts, &mut r, |_| {}).await;
    r.finish();
    // 26 products per unit, 10 of them metadata files without a model of their own.
    assert_eq!(
        (r.summary.total, r.summary.done, r.summary.failed),
        (32, 32, 0),
        "{:#?}",
        r.files
    );
    let updates = {
        let s = fake.state();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        let pages = s
            .seen
            .iter()
            .filter(|q| q.path.ends_with("/children") && q.method == "GET")
            .count();
        assert!(pages >= 2 * 4, "{pages} listing requests: no paging");
        let unit = "92/1_91_1_1351/241C7D0/2021-08-04";
        let mean = s
            .repo
            .node_at(&lib, &format!("{unit}/mean_soundscape.png"))
            .unwrap();
        assert_eq!(mean.node_type, model::MODEL_TYPE);
        assert_eq!(mean.properties["soundscape:aggr"], "Mean");
        assert_eq!(mean.properties["soundscape:n_fft"], "1024");
        assert_eq!(
            mean.properties["soundscape:product_path"],
            format!("/Company Home/Sites/sipecam-soundscape/documentLibrary/{unit}").as_str()
        );
        let video = s
            .repo
            .node_at(&lib, &format!("{unit}/REC1_20210804_010000.mp4"))
            .unwrap();
        assert_eq!(
            video.properties["soundscape:AudioID"],
            "REC1_20210804_010000"
        );
        assert_eq!(
            video.properties["soundscape:product_name"],
            "spectrogram_video"
        );
        let meta = s
            .repo
            .node_at(&lib, &format!("{unit}/soundscape_metadata.json"))
            .unwrap();
        assert_eq!(meta.node_type, "cm:content");
        s.updates
    };

    let mut r = UploadReport::new("m", "0");
    model::apply(&session, &lib, &units, &opts, &mut r, |_| {}).await;
    r.finish();
    assert_eq!(r.summary.skipped, 32);
    assert_eq!(fake.state().updates, updates, "a rerun changed nodes");
}

#[tokio::test]
async fn the_model_names_products_that_are_not_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 1, 0);
    let (fake, lib) = fake().await;
    let session = session(&fake, RetryPolicy::fast());
    let mut r = UploadReport::new("m", "0");
    let opts = model::ModelOptions::default();
    model::apply(&session, &lib, &units(dir.path()), &opts, &mut r, |_| {}).await;
    r.finish();
    assert_eq!(r.exit_code(), 3);
    assert!(r.files.iter().all(|o| o.status == Status::Failed
        && o.reason
            .as_deref()
            .unwrap()
            .contains("run upload-alfresco first")));
}
