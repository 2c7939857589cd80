//! The Nodes API (`.../alfresco/versions/1/nodes/...`) and the tickets of the Authentication
//! API: login, ticket checks with expiry, uploads as multipart with `relativePath`, name
//! clashes (409), `overwrite` (a new version), `autoRename`, children listed with paging, a
//! node read by path, type/properties/aspects updated, and content downloads.
//!
//! Every call passes [`gate`] first: the request is recorded, the ticket checked, and a
//! scripted [`crate::Fault`] or a random [`crate::Chaos`] failure may answer instead.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{FromRequest, Path, Query, Request, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::contract::{include_values, Api};
use crate::repo::{PathError, Repository};
use crate::{error, next_fault, Seen, Shared, Trouble};

/// Node types the fake's content model knows.
pub const KNOWN_TYPES: [&str; 4] = [
    "cm:content",
    "cm:folder",
    "soundscape:product",
    "sipecam:audio",
];
/// Namespace prefixes of properties the fake's content model knows.
pub const KNOWN_PREFIXES: [&str; 5] = ["cm", "sys", "exif", "soundscape", "sipecam"];

type Params = Query<HashMap<String, String>>;

/// Content type of an upload whose part names none.
const OCTET_STREAM: &str = "application/octet-stream";

/// A broken answer: the connection ends before a body arrives.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("connection dropped by the fake"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from_stream(stream))
        .unwrap()
}

fn answer(status: u16, state: &Shared, definition: &'static str, value: Value) -> Response {
    state
        .lock()
        .unwrap()
        .check_answer(Api::Core, definition, &value);
    (StatusCode::from_u16(status).unwrap(), axum::Json(value)).into_response()
}

fn path_error(e: PathError) -> Response {
    error(e.0, &e.1)
}

/// The user behind an `Authorization: Basic` header: a ticket (`base64(ticket)`) or
/// `base64(user:password)`.
fn authenticate(s: &crate::State, headers: &HeaderMap) -> Result<String, &'static str> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or("no Basic authorization")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("authorization is not base64")?;
    if decoded.starts_with("TICKET_") {
        let (user, issued) = s.tickets.get(&decoded).ok_or("unknown or expired ticket")?;
        if s.ticket_ttl.is_some_and(|ttl| issued.elapsed() > ttl) {
            return Err("ticket expired");
        }
        return Ok(user.clone());
    }
    let (user, pw) = decoded.split_once(':').ok_or("malformed credentials")?;
    if s.users.iter().any(|(u, p)| u == user && p == pw) {
        Ok(user.to_string())
    } else {
        Err("wrong user or password")
    }
}

/// What happens to a call after the gate.
enum Gate {
    /// Serve it; `drop_after` breaks the answer after the change is made; `seen` is the
    /// call's place in [`crate::State::seen`].
    Go {
        drop_after: bool,
        seen: usize,
    },
    Stop(Response),
}

async fn gate(state: &Shared, method: &str, path: String, headers: &HeaderMap) -> Gate {
    let seen = {
        let mut s = state.lock().unwrap();
        s.seen.push(Seen {
            method: method.into(),
            path,
            api_key: None,
            body: Value::Null,
        });
        if let Err(why) = authenticate(&s, headers) {
            return Gate::Stop(error(401, why));
        }
        s.seen.len() - 1
    };
    if let Some(r) = next_fault(state).await {
        return Gate::Stop(r);
    }
    let trouble = {
        let mut s = state.lock().unwrap();
        let t = s.chaos.as_mut().and_then(|c| c.draw(method != "GET"));
        if let Some(t) = &t {
            s.injected.push(format!("{method} {t:?}"));
            if matches!(t, Trouble::ExpireTickets) {
                s.tickets.clear();
            }
        }
        t
    };
    match trouble {
        None => Gate::Go {
            drop_after: false,
            seen,
        },
        Some(Trouble::Status(code)) => Gate::Stop(error(code, "injected failure")),
        Some(Trouble::DropBefore) => Gate::Stop(dropped()),
        Some(Trouble::DropAfter) => Gate::Go {
            drop_after: true,
            seen,
        },
        Some(Trouble::ExpireTickets) => Gate::Stop(error(401, "ticket expired")),
    }
}

fn includes(q: &HashMap<String, String>, parameter: &str) -> Result<Vec<String>, String> {
    let allowed = include_values(parameter);
    let asked: Vec<String> = q
        .get("include")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match asked.iter().find(|a| !allowed.contains(a)) {
        Some(bad) => Err(format!("include={bad} is not one of {allowed:?}")),
        None => Ok(asked),
    }
}

/// The gate of a read, then its `include` values checked against `parameter`.
async fn read_gate(
    state: &Shared,
    path: String,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    parameter: &str,
) -> Result<Vec<String>, Response> {
    if let Gate::Stop(r) = gate(state, "GET", path, headers).await {
        return Err(r);
    }
    includes(q, parameter).map_err(|e| error(400, &e))
}

fn flag(v: Option<&String>) -> Result<bool, String> {
    match v.map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("{other:?} is not a boolean")),
    }
}

fn count(
    q: &HashMap<String, String>,
    name: &str,
    default: usize,
    min: usize,
) -> Result<usize, String> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name}={v} must be an integer >= {min}")),
        },
    }
}

/// `POST .../authentication/versions/1/tickets`.
pub(crate) async fn create_ticket(AxState(state): AxState<Shared>, body: String) -> Response {
    let body: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("request body is not JSON: {e}")),
    };
    let mut s = state.lock().unwrap();
    s.seen.push(Seen {
        method: "POST".into(),
        path: "tickets".into(),
        api_key: None,
        body: json!({"userId": body.get("userId")}),
    });
    if let Some(r) = s.refuse(Api::Auth, "TicketBody", &body) {
        return r;
    }
    let (Some(user), Some(pw)) = (body["userId"].as_str(), body["password"].as_str()) else {
        return error(400, "userId and password are mandatory");
    };
    if !s.users.iter().any(|(u, p)| u == user && p == pw) {
        return error(403, "Login failed");
    }
    s.logins += 1;
    let ticket = format!("TICKET_{:040x}", fastrand::u128(..));
    s.tickets
        .insert(ticket.clone(), (user.to_string(), Instant::now()));
    let answer = json!({"entry": {"id": ticket, "userId": user}});
    s.check_answer(Api::Auth, "TicketEntry", &answer);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

/// `GET .../nodes/{id}` with an optional `relativePath`.
pub(crate) async fn get_node(
    AxState(state): AxState<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let include = match read_gate(
        &state,
        format!("nodes/{id}"),
        &headers,
        &q,
        "nodeEntryIncludeParam",
    )
    .await
    {
        Ok(i) => i,
        Err(r) => return r,
    };
    let value = {
        let s = state.lock().unwrap();
        let found = s
            .repo
            .walk(&id, q.get("relativePath").map_or("", String::as_str));
        match found {
            Ok(nid) => json!({"entry": s.repo.to_json(&s.repo.nodes[&nid], &include, true)}),
            Err(e) => return path_error(e),
        }
    };
    answer(200, &state, "NodeEntry", value)
}

/// `GET .../nodes/{id}/children` with `relativePath`, paging and `include`.
pub(crate) async fn list_children(
    AxState(state): AxState<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let include = match read_gate(
        &state,
        format!("nodes/{id}/children"),
        &headers,
        &q,
        "nodeMinimalEntryIncludeParam",
    )
    .await
    {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (skip, max) = match (count(&q, "skipCount", 0, 0), count(&q, "maxItems", 100, 1)) {
        (Ok(s), Ok(m)) => (s, m),
        (Err(e), _) | (_, Err(e)) => return error(400, &e),
    };
    let value = {
        let s = state.lock().unwrap();
        let folder = match s
            .repo
            .walk(&id, q.get("relativePath").map_or("", String::as_str))
        {
            Ok(f) => f,
            Err(e) => return path_error(e),
        };
        let all = s.repo.children(&folder);
        let page: Vec<Value> = all
            .iter()
            .skip(skip)
            .take(max)
            .map(|n| json!({"entry": s.repo.to_json(n, &include, false)}))
            .collect();
        json!({"list": {
            "pagination": {
                "count": page.len(),
                "hasMoreItems": skip + page.len() < all.len(),
                "totalItems": all.len(),
                "skipCount": skip,
                "maxItems": max,
            },
            "entries": page,
        }})
    };
    answer(200, &state, "NodeChildAssociationPaging", value)
}

/// `GET .../nodes/{id}/content`.
pub(crate) async fn get_content(
    AxState(state): AxState<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Gate::Stop(r) = gate(&state, "GET", format!("nodes/{id}/content"), &headers).await {
        return r;
    }
    let s = state.lock().unwrap();
    match s.repo.nodes.get(&id) {
        Some(n) if !n.is_folder => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, n.mime_type.clone())],
            n.content.clone(),
        )
            .into_response(),
        Some(_) => error(400, "a folder has no content"),
        None => error(404, &format!("The entity with id: {id} was not found")),
    }
}

fn check_properties(props: &Map<String, Value>) -> Result<(), String> {
    for k in props.keys() {
        match k.split_once(':') {
            Some((prefix, local)) if KNOWN_PREFIXES.contains(&prefix) && !local.is_empty() => {}
            _ => {
                return Err(format!(
                    "Invalid property: {k:?} is not a property of the content model"
                ))
            }
        }
    }
    Ok(())
}

fn check_type(t: &str) -> Result<(), String> {
    if KNOWN_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(format!(
            "Invalid type: {t:?} is not a type of the content model"
        ))
    }
}

/// `PUT .../nodes/{id}`: name, type, properties (null removes) and aspects.
pub(crate) async fn update_node(
    AxState(state): AxState<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (drop_after, seen) = match gate(&state, "PUT", format!("nodes/{id}"), &headers).await {
        Gate::Stop(r) => return r,
        Gate::Go { drop_after, seen } => (drop_after, seen),
    };
    let body: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("request body is not JSON: {e}")),
    };
    let value = {
        let mut s = state.lock().unwrap();
        s.seen[seen].body = body.clone();
        if let Some(r) = s.refuse(Api::Core, "NodeBodyUpdate", &body) {
            return r;
        }
        let props = body
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Err(e) = check_properties(&props) {
            return error(400, &e);
        }
        if let Some(Err(e)) = body.get("nodeType").and_then(Value::as_str).map(check_type) {
            return error(400, &e);
        }
        let Some(n) = s.repo.nodes.get_mut(&id) else {
            return error(404, &format!("The entity with id: {id} was not found"));
        };
        if let Some(t) = body.get("nodeType").and_then(Value::as_str) {
            n.node_type = t.into();
        }
        if let Some(a) = body.get("aspectNames").and_then(Value::as_array) {
            n.aspect_names = a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
        }
        for (k, v) in props {
            if v.is_null() {
                n.properties.remove(&k);
            } else {
                n.properties.insert(k, v);
            }
        }
        Repository::touch(n);
        let n = n.clone();
        s.updates += 1;
        json!({"entry": s.repo.to_json(&n, &[], true)})
    };
    if drop_after {
        return dropped();
    }
    answer(200, &state, "NodeEntry", value)
}

/// The fields of a multipart upload.
#[derive(Default)]
struct Upload {
    content: Option<(Option<String>, Vec<u8>, Option<String>)>,
    fields: Vec<(String, String)>,
}

async fn read_multipart(req: Request) -> Result<Upload, String> {
    let mut mp = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| format!("not multipart/form-data: {e}"))?;
    let mut up = Upload::default();
    while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "filedata" {
            let file = field.file_name().map(str::to_string);
            let mime = field.content_type().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            up.content = Some((file, bytes.to_vec(), mime));
        } else {
            let text = field.text().await.map_err(|e| e.to_string())?;
            up.fields.push((name, text));
        }
    }
    Ok(up)
}

/// `POST .../nodes/{id}/children` as multipart/form-data (a file) or JSON (a folder or an
/// empty file).
pub(crate) async fn create_child(
    AxState(state): AxState<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let (drop_after, seen) =
        match gate(&state, "POST", format!("nodes/{id}/children"), &headers).await {
            Gate::Stop(r) => return r,
            Gate::Go { drop_after, seen } => (drop_after, seen),
        };
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    // The request as a NodeBodyCreate, plus the upload switches and the content.
    let mut opts: HashMap<String, String> = q.clone();
    let (body, content) = if is_multipart {
        let up = match read_multipart(req).await {
            Ok(u) => u,
            Err(e) => return error(400, &e),
        };
        let mut props = Map::new();
        let mut body = Map::new();
        for (k, v) in up.fields {
            match k.as_str() {
                "name" | "nodeType" | "relativePath" => {
                    body.insert(k, json!(v));
                }
                "aspectNames" => {
                    body.insert(k, json!(v.split(',').map(str::trim).collect::<Vec<_>>()));
                }
                "overwrite" | "autoRename" | "majorVersion" | "versioningEnabled" | "comment"
                | "renditions" => {
                    opts.insert(k, v);
                }
                _ => {
                    props.insert(k, json!(v));
                }
            }
        }
        let Some((file, bytes, mime)) = up.content else {
            return error(400, "multipart upload without a filedata part");
        };
        if !body.contains_key("name") {
            body.insert("name".into(), json!(file.unwrap_or_default()));
        }
        body.entry("nodeType").or_insert(json!("cm:content"));
        if !props.is_empty() {
            body.insert("properties".into(), Value::Object(props));
        }
        (Value::Object(body), Some((bytes, mime)))
    } else {
        let bytes = match axum::body::to_bytes(req.into_body(), usize::MAX).await {
            Ok(b) => b,
            Err(e) => return error(400, &e.to_string()),
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (v, None),
            Err(e) => return error(400, &format!("request body is not JSON: {e}")),
        }
    };
    let (overwrite, auto_rename) = match (flag(opts.get("overwrite")), flag(opts.get("autoRename")))
    {
        (Ok(o), Ok(a)) => (o, a),
        (Err(e), _) | (_, Err(e)) => return error(400, &e),
    };
    let include = match includes(&q, "nodeEntryIncludeParam") {
        Ok(i) => i,
        Err(e) => return error(400, &e),
    };
    {
        let mut s = state.lock().unwrap();
        s.seen[seen].body = body.clone();
        if let Some(r) = s.refuse(Api::Core, "NodeBodyCreate", &body) {
            return r;
        }
    }
    let props = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let node_type = body["nodeType"]
        .as_str()
        .unwrap_or("cm:content")
        .to_string();
    if let Err(e) = check_properties(&props).and_then(|_| check_type(&node_type)) {
        return error(400, &e);
    }
    let delay = state.lock().unwrap().write_delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (status, value) = {
        let mut s = state.lock().unwrap();
        let repo = &mut s.repo;
        let parent = match repo.resolve(&id) {
            Ok(p) => p,
            Err(e) => return path_error(e),
        };
        let rel = body
            .get("relativePath")
            .and_then(Value::as_str)
            .unwrap_or("");
        let folder = match repo.add_folders(&parent, rel) {
            Ok(f) => f,
            Err(e) => return path_error(e),
        };
        let mut name = body["name"].as_str().unwrap_or_default().to_string();
        let is_folder = node_type == "cm:folder";
        let existing = repo
            .child(&folder, &name)
            .map(|n| (n.id.clone(), n.is_folder));
        let node_id = match existing {
            Some((eid, false)) if overwrite && !is_folder => {
                let n = repo.nodes.get_mut(&eid).unwrap();
                if let Some((bytes, mime)) = content {
                    n.mime_type = mime.unwrap_or_else(|| OCTET_STREAM.into());
                    n.content = bytes;
                }
                n.versions += 1;
                n.properties.extend(props);
                Repository::touch(n);
                s.content_writes += 1;
                eid
            }
            Some(_) if auto_rename => {
                let (stem, ext) = match name.rsplit_once('.') {
                    Some((a, b)) => (a.to_string(), format!(".{b}")),
                    None => (name.clone(), String::new()),
                };
                let mut k = 1;
                while repo.child(&folder, &format!("{stem}-{k}{ext}")).is_some() {
                    k += 1;
                }
                name = format!("{stem}-{k}{ext}");
                let nid = new_child(repo, &folder, &name, is_folder, &node_type, content, props);
                s.content_writes += u64::from(!is_folder);
                nid
            }
            Some(_) => {
                return error(409, &format!("Duplicate child name not allowed: {name}"));
            }
            None => {
                let nid = new_child(repo, &folder, &name, is_folder, &node_type, content, props);
                s.content_writes += u64::from(!is_folder);
                nid
            }
        };
        s.creates += 1;
        let n = s.repo.nodes[&node_id].clone();
        (201, json!({"entry": s.repo.to_json(&n, &include, true)}))
    };
    if drop_after {
        return dropped();
    }
    answer(status, &state, "NodeEntry", value)
}

fn new_child(
    repo: &mut Repository,
    folder: &str,
    name: &str,
    is_folder: bool,
    node_type: &str,
    content: Option<(Vec<u8>, Option<String>)>,
    props: Map<String, Value>,
) -> String {
    let nid = if is_folder {
        repo.add_folders(folder, name).expect("name checked free")
    } else {
        let (bytes, mime) = content.unwrap_or_default();
        let mime = mime.unwrap_or_else(|| OCTET_STREAM.into());
        repo.add_file(folder, name, bytes, &mime)
    };
    let n = repo.nodes.get_mut(&nid).unwrap();
    n.node_type = node_type.into();
    if props
        .keys()
        .any(|k| k == "cm:title" || k == "cm:description")
    {
        n.aspect_names.push("cm:titled".into());
    }
    n.properties.extend(props);
    nid
}
