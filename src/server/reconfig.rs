//! ZooKeeper's `reconfig` (with `reconfigEnabled`): who may (the super user,
//! or whoever may write `/zookeeper/config`), from which version, and the
//! new member list, incremental (`joining`/`leaving`) or whole
//! (`newMembers`). The membership changes first, through the leader
//! (consensus); then a txn writes `/zookeeper/config` and answers the client,
//! as a write does. What is refused before anything changes becomes a failed
//! txn, as in ZooKeeper, so it takes a zxid.

use jute::{ErrorCode, Id, ReconfigRequest, perms};

use super::Shared;
use crate::config;
use crate::consensus::{Membership, ReconfigError};
use crate::tree::{self, WriteOp, acl};

/// What to log for a reconfig request: the change, or its refusal. None:
/// the outcome is unknown (no leader could be reached in time), so the
/// client must see its connection lost rather than an answer.
pub async fn prepare(shared: &Shared, r: ReconfigRequest, auth: &[Id]) -> Option<WriteOp> {
    let refused = |code: ErrorCode| Some(WriteOp::Refused { code: code.code() });
    if shared.config.cluster.is_single() {
        // A single node has nobody to change places with.
        return refused(ErrorCode::ReconfigDisabled);
    }
    // ZooKeeper's order: the version, the arguments, then (after its
    // quorum check, which here is part of making the change) the ACL. The
    // ACL comes before the change here: nothing changes for a refused client.
    let target = {
        let state = shared.node.lock();
        if r.cur_config_id != -1 && Some(r.cur_config_id) != state.tree.config_version() {
            return refused(ErrorCode::BadVersion);
        }
        let target = match target(&shared.consensus.membership(), &r) {
            Ok(t) if !t.voters.is_empty() => t,
            _ => return refused(ErrorCode::BadArguments),
        };
        let Some(node) = state.tree.node(tree::CONFIG) else {
            return refused(ErrorCode::NoNode);
        };
        if !acl::allowed(node.acl(), auth, perms::WRITE) {
            return refused(ErrorCode::NoAuth);
        }
        target
    };
    match shared.consensus.reconfigure(target.clone()).await {
        Ok(()) => Some(WriteOp::Reconfig {
            members: render(&target),
            from_version: r.cur_config_id,
        }),
        Err(ReconfigError::NoQuorum) => refused(ErrorCode::NewConfigNoQuorum),
        Err(ReconfigError::Unavailable(why)) => {
            tracing::warn!(why, "reconfig: no outcome");
            None
        }
    }
}

/// On the leader: the member lines `/zookeeper/config` should show, when
/// they are not what it shows (a cluster's first config; a reconfig whose
/// own txn never made it, its client gone with its connection).
pub fn drift(shared: &Shared) -> Option<String> {
    if shared.config.cluster.is_single() {
        return None;
    }
    let m = shared.consensus.membership();
    if m.nodes.is_empty() {
        return None;
    }
    let state = shared.node.lock();
    if state.tree.config_version().is_none() {
        // Configured observers first: the leader stops adding them once a
        // config is written (from then on the log's membership decides).
        let observers_in = shared
            .config
            .cluster
            .members
            .iter()
            .filter(|(_, member)| member.observer)
            .all(|(id, _)| m.nodes.contains_key(id));
        if !observers_in {
            return None;
        }
    }
    let data = state.tree.node(tree::CONFIG)?.data().unwrap_or_default();
    let text = String::from_utf8_lossy(data);
    let shown = text.rfind("version=").map_or(&text[..], |at| &text[..at]);
    let want = render(&m);
    (want != shown).then_some(want)
}

/// The membership a request asks for, or why it cannot be read.
pub fn target(current: &Membership, r: &ReconfigRequest) -> Result<Membership, String> {
    fn given(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let (joining, leaving, whole) = (
        given(&r.joining_servers),
        given(&r.leaving_servers),
        given(&r.new_members),
    );
    if whole.is_some() && (joining.is_some() || leaving.is_some()) {
        return Err("newMembers cannot go with joining or leaving".into());
    }
    let mut next = match whole {
        Some(_) => Membership::default(),
        None => current.clone(),
    };
    if let Some(ids) = leaving {
        for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id: u64 = id
                .parse()
                .map_err(|_| format!("leaving: {id:?} is not an id"))?;
            next.voters.remove(&id);
            next.nodes.remove(&id);
        }
    }
    for list in [joining, whole].into_iter().flatten() {
        for entry in list
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            // ZooKeeper's own config text may come back with its version line.
            if entry.starts_with("version=") {
                continue;
            }
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?}: expected server.N=..."))?;
            let id = key
                .trim()
                .strip_prefix("server.")
                .ok_or_else(|| format!("{entry:?}: expected server.N=..."))?;
            let (id, observer, spec) =
                config::parse_server_spec(id, value).map_err(|e| e.to_string())?;
            next.nodes.insert(id, spec);
            if observer {
                next.voters.remove(&id);
            } else {
                next.voters.insert(id);
            }
        }
    }
    Ok(next)
}

/// `/zookeeper/config`'s server lines for a membership, each with its role,
/// as ZooKeeper writes them (the version line is added by apply).
pub fn render(m: &Membership) -> String {
    let mut out = String::new();
    for (id, spec) in &m.nodes {
        let role = if m.voters.contains(id) {
            "participant"
        } else {
            "observer"
        };
        let (server, client) = match spec.split_once(';') {
            Some((s, c)) => (s, Some(c)),
            None => (spec.as_str(), None),
        };
        // A cluster formed before specs were kept names only host:port.
        let server = if server.split(':').count() == 2 {
            let port = server.rsplit(':').next().unwrap_or_default();
            format!("{server}:{port}")
        } else {
            server.to_string()
        };
        out.push_str(&format!("server.{id}={server}:{role}"));
        if let Some(c) = client {
            out.push(';');
            out.push_str(c);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Membership {
        Membership {
            voters: [1, 2, 3].into(),
            nodes: (1..=3)
                .map(|i| (i, format!("127.0.0.1{i}:2888:3888;127.0.0.1{i}:2181")))
                .collect(),
        }
    }

    fn req(joining: Option<&str>, leaving: Option<&str>, whole: Option<&str>) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: joining.map(Into::into),
            leaving_servers: leaving.map(Into::into),
            new_members: whole.map(Into::into),
            cur_config_id: -1,
        }
    }

    #[test]
    fn incremental_and_whole_changes() {
        let add = "server.100=0.0.0.0:4001:4002:observer;0.0.0.0:4003";
        let t = target(&three(), &req(Some(add), None, None)).unwrap();
        assert_eq!(t.voters, [1, 2, 3].into());
        assert!(render(&t).contains(&format!("{add}\n")), "{}", render(&t));
        let t = target(&t, &req(None, Some("100, 7"), None)).unwrap();
        assert_eq!(t, three(), "an unknown id leaves nothing to remove");
        // A participant joins with ZooKeeper's normalised client part.
        let t = target(
            &three(),
            &req(Some("server.4=127.0.0.14:2888:3888;2181"), None, None),
        )
        .unwrap();
        assert!(t.voters.contains(&4));
        assert!(
            render(&t).contains("server.4=127.0.0.14:2888:3888:participant;0.0.0.0:2181\n"),
            "{}",
            render(&t)
        );
        // Whole lists, ZooKeeper's own text included.
        let text = render(&three()) + "version=100000000";
        let t = target(&Membership::default(), &req(None, None, Some(&text))).unwrap();
        assert_eq!(t, three());
        let t = target(
            &three(),
            &req(
                None,
                None,
                Some("server.1=127.0.0.11:2888:3888;127.0.0.11:2181"),
            ),
        )
        .unwrap();
        assert_eq!(t.voters, [1].into());
        // Any id, as ZooKeeper takes it.
        let t = target(
            &three(),
            &req(
                Some("server.999=0.0.0.0:1234:2345:observer;3456"),
                None,
                None,
            ),
        )
        .unwrap();
        assert!(t.nodes.contains_key(&999) && !t.voters.contains(&999));
        // A participant made an observer, and back.
        let t = target(
            &three(),
            &req(Some("server.3=127.0.0.13:2888:3888:observer"), None, None),
        )
        .unwrap();
        assert_eq!(t.voters, [1, 2].into());
    }

    #[test]
    fn bad_requests_are_refused() {
        for (j, l, w) in [
            (Some("some thing"), None, None),
            (Some("server.x=127.0.0.1:1:2"), None, None),
            (Some("server.4=127.0.0.1:1"), None, None),
            (Some("server.4=127.0.0.1:1:2:voter"), None, None),
            (None, Some("one"), None),
            (
                Some("server.4=127.0.0.1:1:2"),
                None,
                Some("server.1=127.0.0.1:1:2"),
            ),
        ] {
            assert!(
                target(&three(), &req(j, l, w)).is_err(),
                "{j:?} {l:?} {w:?}"
            );
        }
    }

    #[test]
    fn clusters_formed_before_specs_render_as_server_lines() {
        let m = Membership {
            voters: [1].into(),
            nodes: [(1, "127.0.0.1:2888".to_string())].into(),
        };
        assert_eq!(render(&m), "server.1=127.0.0.1:2888:2888:participant\n");
    }
}
