//! Reads, answered from the local tree. ZooKeeper does not validate read
//! paths (a malformed one simply names no node), and neither do we.

use bytes::Bytes;
use jute::{Acl, ErrorCode, Id, Stat, perms};

use super::Tree;
use super::acl;
use super::nodes::Node;

impl Tree {
    /// ZooKeeper's data tree also files the root under "", so reads of "" see it.
    fn lookup(&self, path: &str) -> Option<Node<'_>> {
        self.nodes.get(root_as_empty(path))
    }

    fn readable(&self, path: &str, auth: &[Id], perm: i32) -> Result<Node<'_>, ErrorCode> {
        let node = self.lookup(path).ok_or(ErrorCode::NoNode)?;
        if acl::allowed(node.acl(), auth, perm) {
            Ok(node)
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    pub fn get_data(&self, path: &str, auth: &[Id]) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        let node = self.readable(path, auth, perms::READ)?;
        Ok((node.data().map(Bytes::copy_from_slice), node.stat()))
    }

    /// exists needs no permission; only a NUL in the path is refused.
    pub fn exists(&self, path: &str) -> Result<Stat, ErrorCode> {
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        self.lookup(path).map(|n| n.stat()).ok_or(ErrorCode::NoNode)
    }

    pub fn get_children(&self, path: &str, auth: &[Id]) -> Result<(Vec<String>, Stat), ErrorCode> {
        let node = self.readable(path, auth, perms::READ)?;
        Ok((self.child_names(path), node.stat()))
    }

    /// A node's child names, sorted, whatever its ACL (for checks and tests).
    pub fn child_names(&self, path: &str) -> Vec<String> {
        let names = self.nodes.children(root_as_empty(path)).unwrap_or_default();
        names.into_iter().map(str::to_string).collect()
    }

    /// Needs READ or ADMIN; without ADMIN, digest hashes are masked as `user:x`.
    pub fn get_acl(&self, path: &str, auth: &[Id]) -> Result<(Vec<Acl>, Stat), ErrorCode> {
        let node = self.readable(path, auth, perms::READ | perms::ADMIN)?;
        let acl = if acl::allowed(node.acl(), auth, perms::ADMIN) {
            node.acl().to_vec()
        } else {
            node.acl()
                .iter()
                .map(|a| match a.id.scheme.as_str() {
                    "digest" => Acl {
                        perms: a.perms,
                        id: Id::new(
                            "digest",
                            format!("{}:x", a.id.id.split(':').next().unwrap_or_default()),
                        ),
                    },
                    _ => a.clone(),
                })
                .collect()
        };
        Ok((acl, node.stat()))
    }

    /// A lone check (3.9): a read of the node's version, nothing logged.
    pub fn check_version(&self, path: &str, auth: &[Id], version: i32) -> Result<(), ErrorCode> {
        let node = self.readable(path, auth, perms::READ)?;
        if version == -1 || version == node.version() {
            Ok(())
        } else {
            Err(ErrorCode::BadVersion)
        }
    }

    /// Every node below `path` (not `path` itself). ZooKeeper counts "" by
    /// prefix "/", which takes in the root as well.
    pub fn all_children_number(&self, path: &str, auth: &[Id]) -> Result<i32, ErrorCode> {
        self.readable(path, auth, perms::READ)?;
        if path.is_empty() {
            return Ok(i32::try_from(self.nodes.len()).unwrap_or(i32::MAX));
        }
        let count = self.nodes.descendants(path).unwrap_or(0);
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// The session's ephemerals whose path starts with `prefix` (a string
    /// prefix, as ZooKeeper matches it); empty or `/` means all.
    pub fn ephemerals(&self, session: i64, prefix: &str) -> Vec<String> {
        let prefix = prefix.trim();
        self.sessions
            .get(&session)
            .map(|s| {
                s.ephemerals
                    .iter()
                    .filter(|p| prefix.is_empty() || prefix == "/" || p.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// ZooKeeper's data tree files the root under "" as well as "/".
fn root_as_empty(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}
