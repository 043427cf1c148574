//! Reads and watch management, answered from the local tree under the node
//! lock, so a watch is registered atomically with the read that sets it.

use jute::{
    AddWatchMode, ClientInfo, ErrorCode, ErrorResponse, EventType, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenRequest, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, Id, MultiOp, MultiResponse, OpResult, Reply,
    ReplyHeader, Request, Response, StatResponse, WatcherEvent, WatcherType, WhoAmIResponse,
    frame_bytes,
};

use crate::node::State;
use crate::watch::Kind;

pub struct Reader<'a> {
    pub conn: u64,
    pub session: i64,
    pub auth: &'a [Id],
}

impl Reader<'_> {
    /// The reply to a read, or None when the connection must close.
    pub fn answer(&self, state: &mut State, xid: i32, request: Request) -> Option<Reply> {
        let zxid = state.tree.last_zxid();
        let ok = |body: Response| Reply {
            header: ReplyHeader { xid, zxid, err: 0 },
            body: Some(body),
        };
        let fail = |err: ErrorCode| Reply {
            header: ReplyHeader {
                xid,
                zxid,
                err: err.code(),
            },
            body: None,
        };
        let tree = &state.tree;
        let reply = match request {
            Request::Exists(r) => {
                let result = tree.exists(&r.path);
                // An exists watch is set whether or not the node is there.
                if r.watch && !matches!(result, Err(ErrorCode::BadArguments)) {
                    state.watches.add(self.conn, Kind::Data, &r.path);
                }
                match result {
                    Ok(stat) => ok(Response::Exists(StatResponse { stat })),
                    Err(e) => fail(e),
                }
            }
            Request::GetData(r) => match tree.get_data(&r.path, self.auth) {
                Ok((data, stat)) => {
                    if r.watch {
                        state.watches.add(self.conn, Kind::Data, &r.path);
                    }
                    ok(Response::GetData(GetDataResponse { data, stat }))
                }
                Err(e) => fail(e),
            },
            Request::GetChildren(r) => self.children(state, xid, r, false),
            Request::GetChildren2(r) => self.children(state, xid, r, true),
            Request::GetAcl(r) => match tree.get_acl(&r.path, self.auth) {
                Ok((acl, stat)) => ok(Response::GetAcl(GetAclResponse { acl, stat })),
                Err(e) => fail(e),
            },
            // ZooKeeper 3.9 answers a lone check as a read: no txn, no body.
            Request::Check(r) => match tree.check_version(&r.path, self.auth, r.version) {
                Ok(()) => ok(Response::Check(jute::Empty {})),
                Err(e) => fail(e),
            },
            Request::GetAllChildrenNumber(r) => {
                match tree.all_children_number(&r.path, self.auth) {
                    Ok(total_number) => ok(Response::GetAllChildrenNumber(
                        GetAllChildrenNumberResponse { total_number },
                    )),
                    Err(e) => fail(e),
                }
            }
            Request::GetEphemerals(r) => ok(Response::GetEphemerals(GetEphemeralsResponse {
                ephemerals: tree.ephemerals(self.session, &r.prefix_path),
            })),
            Request::WhoAmI(_) => ok(Response::WhoAmI(WhoAmIResponse {
                client_info: self.auth.iter().map(client_info).collect(),
            })),
            Request::MultiRead(m) => {
                let writes = m
                    .ops
                    .iter()
                    .filter(|op| !matches!(op, MultiOp::GetData(_) | MultiOp::GetChildren(_)))
                    .count();
                if writes > 0 {
                    // ZooKeeper cannot run a write in a multiRead and answers
                    // MarshallingError. Its reader refuses a mix of reads and
                    // writes outright (no body), but takes writes alone and
                    // fails later, sending the empty result list it built.
                    let mut reply = fail(ErrorCode::MarshallingError);
                    if writes == m.ops.len() {
                        reply.body = Some(Response::MultiRead(MultiResponse { results: vec![] }));
                    }
                    return Some(reply);
                }
                let mut results = Vec::with_capacity(m.ops.len());
                for op in m.ops {
                    results.push(match op {
                        MultiOp::GetData(r) => match tree.get_data(&r.path, self.auth) {
                            Ok((data, stat)) => OpResult::GetData { data, stat },
                            Err(e) => OpResult::Error { err: e.code() },
                        },
                        MultiOp::GetChildren(r) => match tree.get_children(&r.path, self.auth) {
                            Ok((children, _)) => OpResult::GetChildren { children },
                            Err(e) => OpResult::Error { err: e.code() },
                        },
                        // Writes were answered above.
                        _ => return None,
                    });
                }
                ok(Response::MultiRead(MultiResponse { results }))
            }
            Request::AddWatch(r) => match AddWatchMode::from_code(r.mode) {
                Some(mode) => {
                    let kind = match mode {
                        AddWatchMode::Persistent => Kind::Persistent,
                        AddWatchMode::PersistentRecursive => Kind::Recursive,
                    };
                    state.watches.add(self.conn, kind, &r.path);
                    // ZooKeeper answers addWatch with an ErrorResponse holding 0.
                    ok(Response::AddWatch(ErrorResponse { err: 0 }))
                }
                None => fail(ErrorCode::MarshallingError),
            },
            // An unknown watcher type fails as MarshallingError.
            Request::CheckWatches(r) | Request::RemoveWatches(r)
                if WatcherType::from_code(r.watcher_type).is_none() =>
            {
                fail(ErrorCode::MarshallingError)
            }
            // So does checkWatches on a path ZooKeeper's watch manager cannot
            // walk (relative; "" is its alias of the root). It walks a path's
            // parents only in its data-watch table and only while some
            // connection holds a persistent-recursive watch; otherwise, and
            // for removeWatches (a lookup in the connection's own set), such
            // a path simply has no watcher.
            Request::CheckWatches(r)
                if WatcherType::from_code(r.watcher_type) != Some(WatcherType::Children)
                    && state.watches.any_recursive()
                    && !(r.path.is_empty() || r.path.starts_with('/')) =>
            {
                fail(ErrorCode::MarshallingError)
            }
            Request::CheckWatches(r) => {
                let t = WatcherType::from_code(r.watcher_type)?;
                if state.watches.check(self.conn, t, &r.path) {
                    ok(Response::CheckWatches(jute::Empty {}))
                } else {
                    fail(ErrorCode::NoWatcher)
                }
            }
            Request::RemoveWatches(r) => {
                let t = WatcherType::from_code(r.watcher_type)?;
                if state.watches.remove_type(self.conn, t, &r.path) {
                    ok(Response::RemoveWatches(jute::Empty {}))
                } else {
                    fail(ErrorCode::NoWatcher)
                }
            }
            Request::SetWatches(w) => {
                self.set_watches(
                    state,
                    w.relative_zxid,
                    &w.data_watches,
                    &w.exist_watches,
                    &w.child_watches,
                    &[],
                    &[],
                );
                ok(Response::SetWatches(jute::Empty {}))
            }
            Request::SetWatches2(w) => {
                self.set_watches(
                    state,
                    w.relative_zxid,
                    &w.data_watches,
                    &w.exist_watches,
                    &w.child_watches,
                    &w.persistent_watches,
                    &w.persistent_recursive_watches,
                );
                ok(Response::SetWatches2(jute::Empty {}))
            }
            // Writes and the rest never reach here.
            _ => return None,
        };
        Some(reply)
    }

    /// getChildren and getChildren2; the watch is set only when the read succeeds.
    fn children(
        &self,
        state: &mut State,
        xid: i32,
        r: GetChildrenRequest,
        with_stat: bool,
    ) -> Reply {
        let zxid = state.tree.last_zxid();
        match state.tree.get_children(&r.path, self.auth) {
            Ok((children, stat)) => {
                if r.watch {
                    state.watches.add(self.conn, Kind::Child, &r.path);
                }
                let body = if with_stat {
                    Response::GetChildren2(GetChildren2Response { children, stat })
                } else {
                    Response::GetChildren(GetChildrenResponse { children })
                };
                Reply {
                    header: ReplyHeader { xid, zxid, err: 0 },
                    body: Some(body),
                }
            }
            Err(e) => Reply {
                header: ReplyHeader {
                    xid,
                    zxid,
                    err: e.code(),
                },
                body: None,
            },
        }
    }

    /// Re-register a reconnecting client's watches. One-shot watches whose
    /// node changed after `relative_zxid` fire at once instead (before the
    /// reply, with zxid −1, as ZooKeeper sends them); persistent ones are
    /// simply registered again.
    #[allow(clippy::too_many_arguments)]
    fn set_watches(
        &self,
        state: &mut State,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        recursive: &[String],
    ) {
        let mut fire = Vec::new();
        for path in data {
            match state.tree.node(path) {
                None => fire.push((EventType::NodeDeleted, path)),
                Some(n) if n.mzxid() > relative_zxid => {
                    fire.push((EventType::NodeDataChanged, path))
                }
                Some(_) => state.watches.add(self.conn, Kind::Data, path),
            }
        }
        for path in exist {
            match state.tree.node(path) {
                Some(_) => fire.push((EventType::NodeCreated, path)),
                None => state.watches.add(self.conn, Kind::Data, path),
            }
        }
        for path in child {
            match state.tree.node(path) {
                None => fire.push((EventType::NodeDeleted, path)),
                Some(n) if n.pzxid() > relative_zxid => {
                    fire.push((EventType::NodeChildrenChanged, path))
                }
                Some(_) => state.watches.add(self.conn, Kind::Child, path),
            }
        }
        for path in persistent {
            state.watches.add(self.conn, Kind::Persistent, path);
        }
        for path in recursive {
            state.watches.add(self.conn, Kind::Recursive, path);
        }
        for (event, path) in fire {
            let note = Reply::notification(-1, WatcherEvent::new(event, path.clone()));
            state.send(self.conn, frame_bytes(&note));
        }
    }
}

/// whoAmI's view of an identity: the scheme and the user part.
fn client_info(id: &Id) -> ClientInfo {
    let user = match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or_default().to_string(),
        _ => id.id.clone(),
    };
    ClientInfo {
        auth_scheme: id.scheme.clone(),
        user,
    }
}
