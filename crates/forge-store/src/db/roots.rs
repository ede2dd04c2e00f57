//! GC roots: direct (a name for a path) and indirect (a symlink).

use super::{now, parse_path, Db};
use crate::error::{DbContext, Result, StoreError};
use forge_core::store_path::StorePath;
use rusqlite::params;
use serde::Serialize;

/// A garbage-collector root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcRoot {
    /// `direct` or `indirect`.
    pub kind: RootKind,
    /// The root's name: a label for direct roots, the link's host path for
    /// indirect ones.
    pub name: String,
    /// The rooted store path (direct roots only).
    pub path: Option<StorePath>,
    /// Unix time the root was added.
    pub created_at: i64,
}

/// The two kinds of GC root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootKind {
    /// Names a store path.
    Direct,
    /// Names a symlink whose target is rooted while the link exists.
    Indirect,
}

impl RootKind {
    fn as_str(self) -> &'static str {
        match self {
            RootKind::Direct => "direct",
            RootKind::Indirect => "indirect",
        }
    }
}

impl Db {
    /// Adds or replaces a GC root.
    pub(crate) fn add_root(
        &mut self,
        kind: RootKind,
        name: &str,
        path: Option<&StorePath>,
    ) -> Result<()> {
        if let Some(p) = path {
            if !self.is_valid(p)? {
                return Err(StoreError::NotValid(p.clone()));
            }
        }
        self.conn
            .execute(
                "INSERT INTO gc_roots (kind, name, path, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, path = excluded.path",
                params![kind.as_str(), name, path.map(|p| p.to_string()), now()],
            )
            .db(|| format!("adding GC root {name:?}"))?;
        Ok(())
    }

    /// Removes a GC root by name.
    pub(crate) fn remove_root(&mut self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM gc_roots WHERE name = ?1", [name])
            .db(|| format!("removing GC root {name:?}"))?;
        if n == 0 {
            return Err(StoreError::NoSuchRoot(name.to_owned()));
        }
        Ok(())
    }

    /// Every GC root.
    pub fn roots(&self) -> Result<Vec<GcRoot>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, name, path, created_at FROM gc_roots ORDER BY name")
            .db(|| "listing GC roots".into())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .db(|| "listing GC roots".into())?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name, path, created_at) = row.db(|| "listing GC roots".into())?;
            out.push(GcRoot {
                kind: if kind == "direct" {
                    RootKind::Direct
                } else {
                    RootKind::Indirect
                },
                name,
                path: path.as_deref().map(parse_path).transpose()?,
                created_at,
            });
        }
        Ok(out)
    }
}
