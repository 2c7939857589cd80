//! Uploads to a real S3-compatible server (s3s-fs on 127.0.0.1): every product lands under
//! its unit path, reruns send nothing, changed products are replaced, and large files go up
//! in parts.

use std::path::Path;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use soundscape_core::products::ProductKind;
use soundscape_core::Status;
use soundscape_testkit::{S3Server, ACCESS_KEY, SECRET_KEY};
use soundscape_upload::catalog::select;
use soundscape_upload::journal::JOURNAL_FILE;
use soundscape_upload::report::UploadReport;
use soundscape_upload::store::StoreTarget;
use soundscape_upload::{upload, Existing, Target, UploadOptions};

fn target(s3: &S3Server) -> Target {
    let store = AmazonS3Builder::new()
        .with_endpoint(s3.endpoint())
        .with_bucket_name("soundscape")
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .with_allow_http(true)
        .build()
        .unwrap();
    let mut t = StoreTarget::new(
        Arc::new(store),
        StorePath::from("products"),
        "s3://soundscape/products",
    );
    t.multipart_threshold = 1024 * 1024;
    t.part_size = 5 * 1024 * 1024;
    Target::Store(t)
}

async fn run(s3: &S3Server, root: &Path, existing: Existing) -> UploadReport {
    let units = select(Some(root), &[], &ProductKind::ALL).unwrap();
    let mut report = UploadReport::new("t", "0");
    let opts = UploadOptions {
        existing,
        ..Default::default()
    };
    upload(&units, &[target(s3)], &opts, &mut report, |_| {}).await;
    report.finish();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_into_s3_once_with_reruns_replacements_and_multipart() {
    let s3 = S3Server::start();
    let bucket = s3.bucket("soundscape");
    let dir = tempfile::tempdir().unwrap();
    let units = soundscape_testkit::results_tree(dir.path(), 2, 1);
    // A long video: 11 MiB, three parts of 5 MiB.
    let big: Vec<u8> = (0..11 * 1024 * 1024)
        .map(|i: usize| (i % 253) as u8)
        .collect();
    std::fs::write(units[0].join("LONG_20210804_120000.mp4"), &big).unwrap();

    let r = run(&s3, dir.path(), Existing::Update).await;
    let failed: Vec<_> = r
        .files
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!((r.summary.total, r.summary.done), (29, 29));
    for u in select(Some(dir.path()), &[], &ProductKind::ALL).unwrap() {
        for p in &u.products {
            let remote = bucket
                .join("products")
                .join(u.remote_folder())
                .join(&p.name);
            let want = std::fs::read(u.dir.join(&p.name)).unwrap();
            assert_eq!(
                std::fs::read(&remote).ok().as_ref(),
                Some(&want),
                "{}",
                remote.display()
            );
        }
    }
    assert!(!bucket
        .join("products/92/1_90_1_1350/240C7D0/2021-08-04/unit.json")
        .exists());

    let r = run(&s3, dir.path(), Existing::Update).await;
    assert_eq!(r.summary.skipped, 29);
    assert!(r
        .files
        .iter()
        .all(|o| o.action.as_deref() == Some("journaled")));

    for u in &units {
        std::fs::remove_file(u.join(JOURNAL_FILE)).unwrap();
    }
    let r = run(&s3, dir.path(), Existing::Update).await;
    assert!(
        r.files.iter().all(|o| o.action.as_deref() == Some("same")),
        "{:#?}",
        r.files
    );

    std::fs::write(units[1].join("sequence.png"), b"a new plot").unwrap();
    let r = run(&s3, dir.path(), Existing::Keep).await;
    let o = r
        .files
        .iter()
        .find(|o| o.file == "sequence.png" && o.unit.contains("1_91"))
        .unwrap();
    assert_eq!(o.action.as_deref(), Some("kept"));
    let r = run(&s3, dir.path(), Existing::Update).await;
    assert_eq!(r.summary.done, 1);
    let remote = bucket.join("products/92/1_91_1_1351/241C7D0/2021-08-04/sequence.png");
    assert_eq!(std::fs::read(remote).unwrap(), b"a new plot");
}
