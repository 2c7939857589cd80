//! The fake's Nodes API and tickets follow the contract: login and ticket checks, uploads with
//! relativePath, 409 on a name clash, overwrite as a new version, autoRename, paging, PUT
//! node, and the original's `properties=cm:title` field refused.

use std::time::Duration;

use alfresco_fake::{FakeAlfresco, State};
use base64::Engine;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const CORE: &str = "alfresco/api/-default-/public/alfresco/versions/1";

async fn login(http: &reqwest::Client, url: &str, password: &str) -> reqwest::Response {
    http.post(format!(
        "{url}alfresco/api/-default-/public/authentication/versions/1/tickets"
    ))
    .json(&json!({"userId": "admin", "password": password}))
    .send()
    .await
    .unwrap()
}

async fn ticket(http: &reqwest::Client, url: &str) -> String {
    let v: Value = login(http, url, "pw").await.json().await.unwrap();
    let t = v["entry"]["id"].as_str().unwrap();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(t)
    )
}

fn upload(name: &str, content: &'static [u8], extra: &[(&str, &str)]) -> Form {
    let mut f = Form::new()
        .part("filedata", Part::bytes(content).file_name(name.to_string()))
        .text("name", name.to_string())
        .text("nodeType", "cm:content")
        .text("relativePath", "/92/n/r/2021-08-04/");
    for (k, v) in extra {
        f = f.text(k.to_string(), v.to_string());
    }
    f
}

#[tokio::test]
async fn nodes_api_follows_the_contract() {
    let (mut state, lib) = State::with_site("admin", "pw", "sipecam-soundscape");
    state.ticket_ttl = Some(Duration::from_millis(400));
    let fake = FakeAlfresco::start(state).await.unwrap();
    let url = fake.url();
    let http = reqwest::Client::new();
    assert_eq!(login(&http, &url, "wrong").await.status(), 403);
    let auth = ticket(&http, &url).await;
    let children = format!("{url}{CORE}/nodes/{lib}/children");

    let post = |form: Form| {
        http.post(&children)
            .header("Authorization", &auth)
            .multipart(form)
            .send()
    };
    let r = post(upload("a.png", b"one", &[("cm:title", "a.png")]))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["entry"]["properties"]["cm:title"], "a.png");
    assert_eq!(
        post(upload("a.png", b"two", &[])).await.unwrap().status(),
        409
    );
    let r = post(upload("a.png", b"two", &[("overwrite", "true")]))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = post(upload("a.png", b"three", &[("autoRename", "true")]))
        .await
        .unwrap();
    let renamed: Value = r.json().await.unwrap();
    assert_eq!(renamed["entry"]["name"], "a-1.png");
    // The original's field: `properties=cm:title` is no property of the model.
    let r = post(upload("b.png", b"x", &[("properties", "cm:title")]))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for i in 0..5 {
        let name = format!("c{i}.png");
        assert_eq!(post(upload(&name, b"c", &[])).await.unwrap().status(), 201);
    }
    {
        let s = fake.state();
        let a = s.repo.node_at(&lib, "92/n/r/2021-08-04/a.png").unwrap();
        assert_eq!((a.versions, a.content.as_slice()), (2, &b"two"[..]));
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    }

    // Paging over the folder's 7 files.
    let mut names = Vec::new();
    let mut skip = 0;
    loop {
        let v: Value = http
            .get(&children)
            .header("Authorization", &auth)
            .query(&[
                ("relativePath", "92/n/r/2021-08-04"),
                ("skipCount", &skip.to_string()),
                ("maxItems", "3"),
                ("include", "properties,aspectNames"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = v["list"]["entries"].as_array().unwrap();
        names.extend(
            entries
                .iter()
                .map(|e| e["entry"]["name"].as_str().unwrap().to_string()),
        );
        assert!(entries.iter().all(|e| e["entry"]["aspectNames"].is_array()));
        skip += entries.len();
        if !v["list"]["pagination"]["hasMoreItems"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(
        names,
        ["a-1.png", "a.png", "c0.png", "c1.png", "c2.png", "c3.png", "c4.png"]
    );
    let r = http
        .get(&children)
        .header("Authorization", &auth)
        .query(&[("include", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(&children)
        .header("Authorization", &auth)
        .query(&[("relativePath", "92/none")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // PUT node: type and properties; values must be strings as the contract says.
    let id = a["entry"]["id"].as_str().unwrap();
    let node = format!("{url}{CORE}/nodes/{id}");
    let body =
        json!({"nodeType": "soundscape:product", "properties": {"soundscape:n_fft": "1024"}});
    let r = http
        .put(&node)
        .header("Authorization", &auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["entry"]["nodeType"], "soundscape:product");
    let bad = json!({"properties": {"soundscape:n_fft": 1024}});
    let r = http
        .put(&node)
        .header("Authorization", &auth)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let bad = json!({"nodeType": "my:unknown"});
    assert_eq!(
        http.put(&node)
            .header("Authorization", &auth)
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let got = http
        .get(format!("{node}/content"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"two");

    // Tickets expire; a request without one is refused.
    assert_eq!(http.get(&node).send().await.unwrap().status(), 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        http.get(&node)
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert!(
        fake.state().violations.len() == 1,
        "only the numeric property was a violation"
    );
}
