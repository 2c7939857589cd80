//! The Nodes API calls of the upload stages: a node looked up by path, a folder's children
//! listed page by page (the original read only the first 100), a file uploaded as multipart
//! with `relativePath` and `cm:title`, a node's type and properties updated, and a file's
//! content hashed without keeping it.

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value};
use sha2::Digest;

use crate::session::Session;
use crate::AlfrescoError;

/// What the upload stages need to know of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub name: String,
    pub is_file: bool,
    pub node_type: String,
    pub size: Option<u64>,
    pub modified_at: String,
    pub aspect_names: Vec<String>,
    pub properties: Map<String, Value>,
}

impl NodeInfo {
    /// Reads a `Node` object of an answer.
    pub fn from_json(url: &str, v: &Value) -> Result<NodeInfo, AlfrescoError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let bad = |what: &str| AlfrescoError::Protocol {
            url: url.into(),
            detail: format!("node without {what}"),
        };
        Ok(NodeInfo {
            id: s("id").ok_or_else(|| bad("id"))?,
            name: s("name").ok_or_else(|| bad("name"))?,
            is_file: v.get("isFile").and_then(Value::as_bool).unwrap_or(false),
            node_type: s("nodeType").unwrap_or_default(),
            size: v.pointer("/content/sizeInBytes").and_then(Value::as_u64),
            modified_at: s("modifiedAt").unwrap_or_default(),
            aspect_names: v
                .get("aspectNames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            properties: v
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// A file to upload.
#[derive(Debug, Clone)]
pub struct NewFile<'a> {
    /// Folder path below the root node (`92/node/serial/date`), created when missing.
    pub folder: &'a str,
    pub name: &'a str,
    pub content: Bytes,
    pub mime: &'a str,
    /// `cm:title`.
    pub title: &'a str,
    /// Replace an existing file of that name with a new version.
    pub overwrite: bool,
}

/// Largest page the listing asks for.
pub const PAGE_SIZE: usize = 1000;

fn entry(url: &str, v: &Value) -> Result<NodeInfo, AlfrescoError> {
    NodeInfo::from_json(url, v.get("entry").unwrap_or(&Value::Null))
}

impl Session {
    /// The node at `rel` (`a/b/file.png`) below `root`, or `None` when there is none.
    pub async fn node_at(&self, root: &str, rel: &str) -> Result<Option<NodeInfo>, AlfrescoError> {
        let url = self.core_url(&format!("nodes/{root}"));
        let answer = self
            .call("look up node", &url, |h| {
                h.get(&url).query(&[("relativePath", rel)])
            })
            .await;
        match answer {
            Ok(a) => entry(&url, &a.json(&url)?).map(Some),
            Err(AlfrescoError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The display path of a node (`/Company Home/Sites/<site>/documentLibrary`).
    pub async fn node_path(&self, id: &str) -> Result<String, AlfrescoError> {
        let url = self.core_url(&format!("nodes/{id}"));
        let v = self
            .call("read node path", &url, |h| {
                h.get(&url).query(&[("include", "path")])
            })
            .await?
            .json(&url)?;
        let parent = v.pointer("/entry/path/name").and_then(Value::as_str);
        let name = v.pointer("/entry/name").and_then(Value::as_str);
        match (parent, name) {
            (Some(p), Some(n)) => Ok(format!("{}/{n}", p.trim_end_matches('/'))),
            _ => Err(AlfrescoError::Protocol {
                url,
                detail: "node without path.name or name".into(),
            }),
        }
    }

    /// Every child of the folder at `rel` below `root` with its aspects and properties, read
    /// page by page; `None` when the folder does not exist.
    pub async fn children(
        &self,
        root: &str,
        rel: &str,
        page_size: usize,
    ) -> Result<Option<Vec<NodeInfo>>, AlfrescoError> {
        let url = self.core_url(&format!("nodes/{root}/children"));
        let mut out = Vec::new();
        loop {
            let skip = out.len().to_string();
            let max = page_size.clamp(1, PAGE_SIZE).to_string();
            let answer = self
                .call("list folder", &url, |h| {
                    h.get(&url).query(&[
                        ("relativePath", rel),
                        ("include", "aspectNames,properties"),
                        ("skipCount", &skip),
                        ("maxItems", &max),
                    ])
                })
                .await;
            let v = match answer {
                Ok(a) => a.json(&url)?,
                Err(AlfrescoError::Status { status: 404, .. }) if out.is_empty() => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            };
            let entries = v
                .pointer("/list/entries")
                .and_then(Value::as_array)
                .ok_or_else(|| AlfrescoError::Protocol {
                    url: url.clone(),
                    detail: "listing without list.entries".into(),
                })?;
            for e in entries {
                out.push(entry(&url, e)?);
            }
            let more = v
                .pointer("/list/pagination/hasMoreItems")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !more || entries.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// Uploads a file: `POST nodes/{root}/children` as multipart. One attempt (a 401 gets a
    /// fresh ticket): the caller decides about retries, since a failed attempt may have
    /// stored the file. A name clash without `overwrite` is a 409 error.
    pub async fn create_file(
        &self,
        root: &str,
        f: &NewFile<'_>,
    ) -> Result<NodeInfo, AlfrescoError> {
        let url = self.core_url(&format!("nodes/{root}/children"));
        let form = || -> Result<reqwest::multipart::Form, AlfrescoError> {
            let part = reqwest::multipart::Part::stream_with_length(
                f.content.clone(),
                f.content.len() as u64,
            )
            .file_name(f.name.to_string())
            .mime_str(f.mime)
            .map_err(|e| AlfrescoError::Config(format!("{}: {e}", f.mime)))?;
            let mut form = reqwest::multipart::Form::new()
                .part("filedata", part)
                .text("name", f.name.to_string())
                .text("nodeType", "cm:content")
                // Leading and trailing slashes as the original sent them.
                .text("relativePath", format!("/{}/", f.folder.trim_matches('/')))
                // Any other field is a property: this sets the title (the original sent
                // `properties=cm:title`, which set nothing).
                .text("cm:title", f.title.to_string());
            if f.overwrite {
                form = form.text("overwrite", "true");
            }
            Ok(form)
        };
        form()?;
        let answer = self
            .send(&url, |h| {
                h.post(&url).multipart(form().expect("checked above"))
            })
            .await?;
        entry(&url, &answer.json(&url)?)
    }

    /// `PUT nodes/{id}` with a `NodeBodyUpdate`; retried (it is idempotent).
    pub async fn update_node(&self, id: &str, body: &Value) -> Result<NodeInfo, AlfrescoError> {
        let url = self.core_url(&format!("nodes/{id}"));
        let answer = self
            .call("update node", &url, |h| h.put(&url).json(body))
            .await?;
        entry(&url, &answer.json(&url)?)
    }

    /// SHA-256 (hex) and length of a file's content, streamed.
    pub async fn content_sha256(&self, id: &str) -> Result<(String, u64), AlfrescoError> {
        let url = self.core_url(&format!("nodes/{id}/content"));
        self.config()
            .retry
            .run("read content", || async {
                let resp = self.open(&url, |h| h.get(&url)).await?;
                let mut hasher = sha2::Sha256::new();
                let mut len = 0u64;
                let mut stream = resp.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| crate::session::network(&url, e))?;
                    len += chunk.len() as u64;
                    hasher.update(&chunk);
                }
                Ok((hex(&hasher.finalize()), len))
            })
            .await
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
