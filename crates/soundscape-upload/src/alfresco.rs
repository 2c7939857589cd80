//! Products into Alfresco (docs/stages.md#upload-alfresco-and-upload-model, with its bugs fixed). Each attempt first looks at the
//! server: no file of that name → upload it; the same content → nothing to do; other content
//! → a new version (`overwrite=true`) or keep the old one, as the policy says. Because every
//! retry looks first, an upload whose answer was lost is found on the next attempt instead of
//! being sent twice, and a 409 (someone else created the name meanwhile) is looked at again.

use std::sync::Arc;

use soundscape_alfresco::{AlfrescoError, NewFile, NodeInfo, RetryPolicy, Session};

use crate::journal::Journal;
use crate::{mime_of, Action, Existing, LocalFile, Placed};

/// How the journal and the reports name an Alfresco root node.
pub fn target_id(session: &Session, root: &str) -> String {
    format!("alfresco:{}#{root}", session.config().base_url)
}

pub struct AlfrescoTarget {
    pub session: Arc<Session>,
    /// The node the unit folders go under (`ALFRESCO_NODE_ID`, `--root-node`).
    pub root: String,
    pub retry: RetryPolicy,
    id: String,
}

impl AlfrescoTarget {
    pub fn new(session: Arc<Session>, root: &str) -> AlfrescoTarget {
        let id = target_id(&session, root);
        AlfrescoTarget {
            retry: session.config().retry,
            session,
            root: root.into(),
            id,
        }
    }

    /// The journal's name of this target.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the remote file holds the local content: sizes first, then the journal's
    /// record of that node version, then the remote content's hash.
    async fn same(
        &self,
        node: &NodeInfo,
        f: &LocalFile,
        journal: &Journal,
    ) -> Result<bool, AlfrescoError> {
        if node.size != Some(f.size) {
            return Ok(false);
        }
        if let Some(e) = journal.by_remote(&self.id, &node.id, &node.modified_at) {
            return Ok(e.sha256 == f.sha256);
        }
        let (sha, _) = self.session.content_sha256(&node.id).await?;
        Ok(sha == f.sha256)
    }

    async fn attempt(
        &self,
        f: &LocalFile,
        journal: &Journal,
        existing: Existing,
        tried: &mut Option<Action>,
    ) -> Result<Placed, AlfrescoError> {
        let rel = format!("{}/{}", f.folder, f.name);
        let new_file = |overwrite| NewFile {
            folder: &f.folder,
            name: &f.name,
            content: f.content.clone(),
            mime: mime_of(&f.name),
            title: &f.name,
            overwrite,
        };
        let (action, node) = match self.session.node_at(&self.root, &rel).await? {
            None => {
                *tried = Some(Action::Created);
                let node = self
                    .session
                    .create_file(&self.root, &new_file(false))
                    .await?;
                (Action::Created, node)
            }
            Some(node) if !node.is_file => {
                return Err(AlfrescoError::Protocol {
                    url: rel,
                    detail: "a folder of that name is in the way".into(),
                })
            }
            Some(node) => {
                if self.same(&node, f, journal).await? {
                    // An earlier attempt of this call may be what put it there.
                    let action = tried.unwrap_or(Action::Same);
                    return Ok(Placed::new(action, node.id, node.modified_at));
                }
                match existing {
                    Existing::Keep => {
                        return Ok(Placed::new(Action::Kept, node.id, node.modified_at))
                    }
                    Existing::Update => {
                        *tried = Some(Action::Replaced);
                        let node = self
                            .session
                            .create_file(&self.root, &new_file(true))
                            .await?;
                        (Action::Replaced, node)
                    }
                }
            }
        };
        Ok(Placed::new(action, node.id, node.modified_at))
    }

    /// Puts one product in place, retrying with backoff; every retry looks first.
    pub async fn place(
        &self,
        f: &LocalFile,
        journal: &Journal,
        existing: Existing,
    ) -> Result<Placed, String> {
        let tried = std::sync::Mutex::new(None);
        let what = format!("upload {}", f.path.display());
        self.retry
            .run_when(
                &what,
                || async {
                    let mut t = *tried.lock().unwrap();
                    let r = self.attempt(f, journal, existing, &mut t).await;
                    *tried.lock().unwrap() = t;
                    r
                },
                |e| e.is_transient() || e.status() == Some(409),
            )
            .await
            .map_err(|e| e.to_string())
    }
}
