//! The fake's repository: a tree of folders and files with their types, aspects, properties,
//! content and version count, and the path rules of the Nodes API (`relativePath` lookups and
//! folders created on demand).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// Id of the repository root (alias `-root-`, "Company Home").
pub const ROOT_ID: &str = "company-home";

/// One node of the repository.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub is_folder: bool,
    pub node_type: String,
    pub aspect_names: Vec<String>,
    pub properties: Map<String, Value>,
    pub content: Vec<u8>,
    pub mime_type: String,
    /// Content versions written: 1 after the upload, +1 for every overwrite.
    pub versions: u32,
    pub created_at: String,
    pub modified_at: String,
}

/// A failed lookup or change: the status and message of the error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub u16, pub String);

impl PathError {
    fn not_found(what: &str) -> PathError {
        PathError(404, format!("The entity with id: {what} was not found"))
    }
}

#[derive(Debug)]
pub struct Repository {
    pub nodes: BTreeMap<String, Node>,
    next_id: u64,
}

impl Default for Repository {
    fn default() -> Self {
        Repository::new()
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Repository {
    /// A repository with its root folder only.
    pub fn new() -> Repository {
        let mut r = Repository {
            nodes: BTreeMap::new(),
            next_id: 0,
        };
        let root = r.new_node(None, "Company Home", true);
        let root = Node {
            id: ROOT_ID.into(),
            ..root
        };
        r.nodes.insert(ROOT_ID.into(), root);
        r
    }

    fn new_node(&mut self, parent: Option<&str>, name: &str, is_folder: bool) -> Node {
        self.next_id += 1;
        let t = now();
        Node {
            id: format!("{:08x}-fake-node-{:012x}", self.next_id, self.next_id),
            name: name.into(),
            parent: parent.map(str::to_string),
            is_folder,
            node_type: if is_folder { "cm:folder" } else { "cm:content" }.into(),
            aspect_names: vec!["cm:auditable".into()],
            properties: Map::new(),
            content: Vec::new(),
            mime_type: if is_folder {
                String::new()
            } else {
                "application/octet-stream".into()
            },
            versions: 0,
            created_at: t.clone(),
            modified_at: t,
        }
    }

    /// Creates folders along `path` (`a/b/c`) under `parent`; returns the last folder's id.
    pub fn add_folders(&mut self, parent: &str, path: &str) -> Result<String, PathError> {
        let mut at = self.resolve(parent)?;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at = match self.child(&at, part) {
                Some(n) if n.is_folder => n.id.clone(),
                Some(_) => return Err(PathError(409, format!("{part} is a file, not a folder"))),
                None => {
                    let n = self.new_node(Some(&at), part, true);
                    let id = n.id.clone();
                    self.nodes.insert(id.clone(), n);
                    id
                }
            };
        }
        Ok(at)
    }

    /// Adds a file (content version 1) under `parent`.
    pub fn add_file(&mut self, parent: &str, name: &str, content: Vec<u8>, mime: &str) -> String {
        let mut n = self.new_node(Some(parent), name, false);
        n.content = content;
        n.mime_type = mime.into();
        n.versions = 1;
        n.aspect_names.push("cm:versionable".into());
        let id = n.id.clone();
        self.nodes.insert(id.clone(), n);
        id
    }

    /// A node id or alias (`-root-`) as a node id.
    pub fn resolve(&self, id: &str) -> Result<String, PathError> {
        let id = if id == "-root-" { ROOT_ID } else { id };
        if self.nodes.contains_key(id) {
            Ok(id.to_string())
        } else {
            Err(PathError::not_found(id))
        }
    }

    pub fn child(&self, parent: &str, name: &str) -> Option<&Node> {
        self.nodes
            .values()
            .find(|n| n.parent.as_deref() == Some(parent) && n.name == name)
    }

    /// Children of a folder, folders first, then by name (the API's default order).
    pub fn children(&self, parent: &str) -> Vec<&Node> {
        let mut v: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.parent.as_deref() == Some(parent))
            .collect();
        v.sort_by(|a, b| b.is_folder.cmp(&a.is_folder).then(a.name.cmp(&b.name)));
        v
    }

    /// The node at `rel` (`a/b/file`) below `from`.
    pub fn walk(&self, from: &str, rel: &str) -> Result<String, PathError> {
        let mut at = self.resolve(from)?;
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            at = self
                .child(&at, part)
                .ok_or_else(|| PathError::not_found(rel))?
                .id
                .clone();
        }
        Ok(at)
    }

    /// The node at `rel` below `from`, if any.
    pub fn node_at(&self, from: &str, rel: &str) -> Option<&Node> {
        self.walk(from, rel).ok().and_then(|id| self.nodes.get(&id))
    }

    /// The display path of a node's folder (`/Company Home/...`).
    pub fn path_of(&self, id: &str) -> String {
        let mut names = Vec::new();
        let mut at = self.nodes.get(id).and_then(|n| n.parent.clone());
        while let Some(p) = at {
            let n = &self.nodes[&p];
            names.push(n.name.clone());
            at = n.parent.clone();
        }
        names.reverse();
        format!("/{}", names.join("/"))
    }

    /// Every file below `from`, as (path relative to `from`, node), sorted by path.
    pub fn files_under(&self, from: &str) -> Vec<(String, &Node)> {
        let mut out = Vec::new();
        let mut stack = vec![(from.to_string(), String::new())];
        while let Some((id, prefix)) = stack.pop() {
            for c in self.children(&id) {
                let rel = if prefix.is_empty() {
                    c.name.clone()
                } else {
                    format!("{prefix}/{}", c.name)
                };
                if c.is_folder {
                    stack.push((c.id.clone(), rel));
                } else {
                    out.push((rel, c));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The `Node` object of the API; `include` adds the optional fields.
    pub fn to_json(&self, n: &Node, include: &[String], full: bool) -> Value {
        let user = json!({"displayName": "Administrator", "id": "admin"});
        let mut v = json!({
            "id": n.id,
            "name": n.name,
            "nodeType": n.node_type,
            "isFolder": n.is_folder,
            "isFile": !n.is_folder,
            "createdAt": n.created_at,
            "createdByUser": user,
            "modifiedAt": n.modified_at,
            "modifiedByUser": user,
        });
        if let Some(p) = &n.parent {
            v["parentId"] = json!(p);
        }
        if !n.is_folder {
            v["content"] = json!({
                "mimeType": n.mime_type,
                "mimeTypeName": n.mime_type,
                "sizeInBytes": n.content.len(),
                "encoding": "UTF-8",
            });
        }
        let has = |f: &str| full || include.iter().any(|i| i == f);
        if has("aspectNames") {
            v["aspectNames"] = json!(n.aspect_names);
        }
        if has("properties") {
            let mut props = n.properties.clone();
            if !n.is_folder && n.versions > 0 {
                props.insert("cm:versionLabel".into(), json!(format!("{}.0", n.versions)));
            }
            v["properties"] = Value::Object(props);
        }
        if include.iter().any(|i| i == "path") {
            v["path"] = json!({"name": self.path_of(&n.id), "isComplete": true, "elements": []});
        }
        v
    }

    pub(crate) fn touch(n: &mut Node) {
        n.modified_at = now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_files_and_paths() {
        let mut r = Repository::new();
        let site = r.add_folders("-root-", "Sites/s/documentLibrary").unwrap();
        let unit = r.add_folders(&site, "92/n/r/d").unwrap();
        assert_eq!(r.add_folders(&site, "92/n/r/d").unwrap(), unit);
        r.add_file(&unit, "b.png", vec![1, 2], "image/png");
        r.add_file(&unit, "a.png", vec![3], "image/png");
        assert_eq!(
            r.walk(&site, "92/n/r/d/a.png")
                .map(|id| r.nodes[&id].content.clone()),
            Ok(vec![3])
        );
        assert!(r.walk(&site, "92/x").is_err());
        let names: Vec<String> = r.files_under(&site).into_iter().map(|(p, _)| p).collect();
        assert_eq!(names, ["92/n/r/d/a.png", "92/n/r/d/b.png"]);
        let id = r.walk(&site, "92/n/r/d/a.png").unwrap();
        assert_eq!(
            r.path_of(&id),
            "/Company Home/Sites/s/documentLibrary/92/n/r/d"
        );
        assert!(matches!(
            r.add_folders(&unit, "a.png/x"),
            Err(PathError(409, _))
        ));
    }
}
