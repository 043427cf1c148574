//! Applying commands: ZooKeeper's prepare checks (in its order, so the same
//! request fails with the same error) followed by the mutation.

use jute::{CreateMode, ErrorCode, Id, OpCode, OpResult, perms};

use super::AclList;
use super::acl;
use super::nodes::Node;
use super::path;
use super::totals::Totals;
use super::txn::{Applied, Change, ChangeKind, Command, Outcome, Txn, WriteOp, WriteResult};
use super::znode::{CONTAINER_OWNER, Kind, MAX_TTL, Znode};
use super::{SessionRecord, Tree};

/// How to put back one thing a failed multi changed. Each step holds only
/// what its op changed, never a copy of a whole node: a create under a
/// parent with a million children must not copy a million names to be undone.
enum Undo {
    /// A node was created: remove it.
    Created(String),
    /// A childless node was removed: here it is.
    Removed(String, Znode),
    /// A child was created under `parent`, which set the parent's creation
    /// counter and pzxid (the child itself is undone by `Created`).
    Linked {
        parent: String,
        cversion: i32,
        pzxid: i64,
    },
    /// A child was removed from `parent`, which set the parent's pzxid.
    Unlinked { parent: String, pzxid: i64 },
    /// setData: what it replaced.
    Data {
        path: String,
        data: Option<Box<[u8]>>,
        mzxid: i64,
        mtime: i64,
        version: i32,
    },
    /// setACL: what it replaced. A multi refuses setACL today; this keeps
    /// every op undoable should that change.
    Acl {
        path: String,
        acl: AclList,
        aversion: i32,
    },
    /// An ephemeral was added to (true) or removed from (false) a session.
    Ephemeral(i64, String, bool),
    /// A path was added to (true) or removed from (false) the reap candidates.
    Reapable(String, bool),
}

/// Keep an undo step, only inside a multi (built lazily: plain writes pay nothing).
fn record(undo: &mut Option<&mut Vec<Undo>>, step: impl FnOnce() -> Undo) {
    if let Some(u) = undo.as_deref_mut() {
        u.push(step());
    }
}

/// What an op needs to know about its command.
struct Ctx<'a> {
    session: i64,
    auth: &'a [Id],
    zxid: i64,
    time: i64,
}

impl<'a> Ctx<'a> {
    fn new(session: i64, auth: &'a [Id], zxid: i64, time: i64) -> Self {
        Ctx {
            session,
            auth,
            zxid,
            time,
        }
    }
}

type OpOutcome = Result<WriteResult, ErrorCode>;

impl Tree {
    /// Apply one command. Every command takes the next zxid, failed ones too.
    pub fn apply(&mut self, cmd: &Command) -> Applied {
        if !self.first_time(&cmd.origin) {
            return Applied {
                zxid: self.last_zxid,
                outcome: Outcome::Duplicate,
                changes: Vec::new(),
            };
        }
        // A reconnect changes no znode: like ZooKeeper's session revalidation
        // it uses no zxid.
        if let Txn::MoveSession { session, passwd } = &cmd.txn {
            let result = match self.sessions.get_mut(session) {
                Some(s) if s.passwd == *passwd => {
                    s.owner = cmd.origin.owner();
                    Ok(s.timeout)
                }
                _ => Err(ErrorCode::SessionExpired),
            };
            return Applied {
                zxid: self.last_zxid,
                outcome: Outcome::Moved {
                    session: *session,
                    result,
                },
                changes: Vec::new(),
            };
        }
        self.last_zxid += 1;
        let zxid = self.last_zxid;
        let mut changes = Vec::new();
        let outcome = match &cmd.txn {
            Txn::CreateSession { timeout, passwd } => {
                let session = self.new_session_id(cmd.time);
                self.sessions.insert(
                    session,
                    SessionRecord {
                        timeout: *timeout,
                        passwd: *passwd,
                        ephemerals: Default::default(),
                        owner: cmd.origin.owner(),
                    },
                );
                Outcome::SessionCreated {
                    session,
                    timeout: *timeout,
                    passwd: *passwd,
                }
            }
            // A client's request from a connection its session has left.
            Txn::CloseSession { session }
            | Txn::Write { session, .. }
            | Txn::Multi { session, .. }
                if self.moved_away(*session, &cmd.origin) =>
            {
                Outcome::Write(Err(ErrorCode::SessionMoved))
            }
            Txn::CloseSession { session } => {
                if let Some(record) = self.sessions.remove(session) {
                    self.totals.ephemerals = self
                        .totals
                        .ephemerals
                        .wrapping_sub(record.ephemerals.len() as u64);
                    for path in record.ephemerals {
                        self.remove_node(&path, zxid, &mut changes, None);
                    }
                }
                Outcome::SessionClosed { session: *session }
            }
            // A client write needs its session to be alive at apply time.
            Txn::Write { session, .. } | Txn::Multi { session, .. }
                if !self.sessions.contains_key(session) =>
            {
                Outcome::Write(Err(ErrorCode::SessionExpired))
            }
            Txn::Write { session, auth, op } => {
                let ctx = Ctx::new(*session, auth, zxid, cmd.time);
                Outcome::Write(self.apply_op(op, &ctx, &mut changes, None))
            }
            Txn::Multi { session, auth, ops } => {
                let ctx = Ctx::new(*session, auth, zxid, cmd.time);
                match self.apply_multi(ops, &ctx, &mut changes) {
                    Ok(results) => Outcome::Multi(results),
                    // The whole request failed: no per-op results.
                    Err(e) => Outcome::Write(Err(e)),
                }
            }
            Txn::Reap { path } => Outcome::Reaped(self.reap(path, zxid, cmd.time, &mut changes)),
            Txn::Config { members } => {
                let ctx = Ctx::new(0, &[], zxid, cmd.time);
                Outcome::Write(self.write_config(members, &ctx, &mut changes, None))
            }
            // Handled above.
            Txn::MoveSession { session, .. } => Outcome::Moved {
                session: *session,
                result: Err(ErrorCode::SessionExpired),
            },
        };
        Applied {
            zxid,
            outcome,
            changes,
        }
    }

    /// Whether a client's command comes from a connection its session has
    /// left. Expiry (nobody waits) is never "moved".
    fn moved_away(&self, session: i64, origin: &crate::tree::Origin) -> bool {
        origin.waits() && self.moved_from(session, origin.owner())
    }

    /// Ids are unique for the life of the data: a time-based base chosen by
    /// the first session's command, then a counter (the top byte stays clear
    /// of 0xff, which marks TTL owners, and of the container sentinel).
    fn new_session_id(&mut self, time: i64) -> i64 {
        if self.next_session == 0 {
            self.next_session = (1 << 56) | ((time << 24) as u64 >> 8) as i64;
        }
        let id = self.next_session;
        self.next_session += 1;
        if self.next_session == CONTAINER_OWNER || self.next_session >> 56 == -1 {
            self.next_session = 1 << 56;
        }
        id
    }

    /// Run a multi's ops in order; on the first failure put everything back.
    /// `Err` is a failure of the whole request (ZooKeeper cannot process an
    /// op it rebuilt as createTTL without a TTL record; it finds out only
    /// when it reaches that op).
    fn apply_multi(
        &mut self,
        ops: &[WriteOp],
        ctx: &Ctx,
        changes: &mut Vec<Change>,
    ) -> Result<Vec<OpResult>, ErrorCode> {
        let mut undo = Vec::new();
        // The totals are a handful of numbers: restore them whole rather than step by step.
        let totals = self.totals;
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            if unreadable_in_multi(op) {
                self.rollback(undo, totals);
                changes.clear();
                return Err(ErrorCode::MarshallingError);
            }
            let rebuilt = rebuild_in_multi(op);
            let op = rebuilt.as_ref().unwrap_or(op);
            let outcome = match op {
                // setACL cannot be part of a multi.
                WriteOp::SetAcl { .. } => Err(ErrorCode::BadArguments),
                _ => self.apply_op(op, ctx, changes, Some(&mut undo)),
            };
            match outcome {
                Ok(r) => results.push(multi_result(r)),
                Err(err) => {
                    self.rollback(undo, totals);
                    changes.clear();
                    let mut failed: Vec<OpResult> =
                        (0..i).map(|_| OpResult::Error { err: 0 }).collect();
                    failed.push(OpResult::Error { err: err.code() });
                    failed.extend((i + 1..ops.len()).map(|_| OpResult::Error {
                        err: ErrorCode::RuntimeInconsistency.code(),
                    }));
                    return Ok(failed);
                }
            }
        }
        Ok(results)
    }

    /// Put back, newest first, what a multi changed, and the totals it started with.
    fn rollback(&mut self, undo: Vec<Undo>, totals: Totals) {
        for step in undo.into_iter().rev() {
            match step {
                Undo::Created(path) => {
                    self.nodes.remove(&path);
                }
                Undo::Removed(path, node) => {
                    self.nodes.insert(&path, node);
                }
                Undo::Linked {
                    parent,
                    cversion,
                    pzxid,
                } => {
                    if let Some(mut p) = self.nodes.get_mut(&parent) {
                        p.set_cversion(cversion);
                        p.set_pzxid(pzxid);
                    }
                }
                Undo::Unlinked { parent, pzxid } => {
                    if let Some(mut p) = self.nodes.get_mut(&parent) {
                        p.set_pzxid(pzxid);
                    }
                }
                Undo::Data {
                    path,
                    data,
                    mzxid,
                    mtime,
                    version,
                } => {
                    if let Some(mut n) = self.nodes.get_mut(&path) {
                        n.set_data(data.as_deref());
                        n.set_mzxid(mzxid);
                        n.set_mtime(mtime);
                        n.set_version(version);
                    }
                }
                Undo::Acl {
                    path,
                    acl,
                    aversion,
                } => {
                    if let Some(mut n) = self.nodes.get_mut(&path) {
                        n.set_acl(acl);
                        n.set_aversion(aversion);
                    }
                }
                Undo::Ephemeral(session, path, added) => {
                    if let Some(s) = self.sessions.get_mut(&session) {
                        if added {
                            s.ephemerals.remove(&path);
                        } else {
                            s.ephemerals.insert(path);
                        }
                    }
                }
                Undo::Reapable(path, added) => {
                    if added {
                        self.reapable.remove(&path);
                    } else {
                        self.reapable.insert(path);
                    }
                }
            }
        }
        self.totals = totals;
    }

    fn apply_op(
        &mut self,
        op: &WriteOp,
        ctx: &Ctx,
        changes: &mut Vec<Change>,
        mut undo: Option<&mut Vec<Undo>>,
    ) -> OpOutcome {
        match op {
            WriteOp::Create {
                op,
                path,
                data,
                acl,
                flags,
                ttl,
            } => self.create(*op, path, data, acl, *flags, *ttl, ctx, changes, undo),
            WriteOp::Delete { path, version } => self.delete(path, *version, ctx, changes, undo),
            WriteOp::SetData {
                path,
                data,
                version,
            } => {
                valid(path)?;
                let node = self.nodes.get(path.as_str()).ok_or(ErrorCode::NoNode)?;
                allow(node, ctx.auth, perms::WRITE)?;
                check_version(node.version(), *version)?;
                let next = node.version().wrapping_add(1);
                let stat = self.replace_data(path, data.clone(), next, ctx, changes, undo)?;
                Ok(WriteResult::DataSet(stat))
            }
            WriteOp::SetAcl { path, acl, version } => {
                valid(path)?;
                let acl = acl::fixup(acl, ctx.auth).ok_or(ErrorCode::InvalidAcl)?;
                let node = self.nodes.get(path.as_str()).ok_or(ErrorCode::NoNode)?;
                allow(node, ctx.auth, perms::ADMIN)?;
                check_version(node.aversion(), *version)?;
                let acl = self.intern(acl);
                let mut node = self.nodes.get_mut(path.as_str()).ok_or(ErrorCode::NoNode)?;
                let (old_acl, aversion) = (node.get().acl().clone(), node.get().aversion());
                record(&mut undo, || Undo::Acl {
                    path: path.clone(),
                    acl: old_acl,
                    aversion,
                });
                // The ACL is not in the digest; the aversion is.
                self.totals.remove_stat(path, node.get());
                node.set_acl(acl);
                node.set_aversion(aversion.wrapping_add(1));
                self.totals.add_stat(path, node.get());
                Ok(WriteResult::AclSet(node.get().stat()))
            }
            WriteOp::Check { path, version } => {
                valid(path)?;
                let node = self.nodes.get(path.as_str()).ok_or(ErrorCode::NoNode)?;
                allow(node, ctx.auth, perms::READ)?;
                check_version(node.version(), *version)?;
                Ok(WriteResult::Checked)
            }
            WriteOp::Refused { code } => {
                Err(ErrorCode::from_code(*code).unwrap_or(ErrorCode::SystemError))
            }
            WriteOp::Reconfig {
                members,
                from_version,
            } => {
                let node = self.nodes.get(super::CONFIG).ok_or(ErrorCode::NoNode)?;
                allow(node, ctx.auth, perms::WRITE)?;
                if *from_version != -1 && Some(*from_version) != self.config_version() {
                    return Err(ErrorCode::BadVersion);
                }
                self.write_config(members, ctx, changes, undo)
            }
        }
    }

    /// `/zookeeper/config` := the member lines and a version line holding
    /// this txn's zxid.
    fn write_config(
        &mut self,
        members: &str,
        ctx: &Ctx,
        changes: &mut Vec<Change>,
        undo: Option<&mut Vec<Undo>>,
    ) -> OpOutcome {
        let data = bytes::Bytes::from(format!("{members}version={:x}", ctx.zxid));
        // ZooKeeper writes the config node with version -1, which it keeps.
        let stat = self.replace_data(super::CONFIG, Some(data.clone()), -1, ctx, changes, undo)?;
        Ok(WriteResult::Reconfigured { data, stat })
    }

    /// A node's data is now `data` and its version `version`, changed by
    /// this txn: totals, undo and data watchers follow.
    fn replace_data(
        &mut self,
        path: &str,
        data: Option<bytes::Bytes>,
        version: i32,
        ctx: &Ctx,
        changes: &mut Vec<Change>,
        mut undo: Option<&mut Vec<Undo>>,
    ) -> Result<jute::Stat, ErrorCode> {
        let mut node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        record(&mut undo, || {
            let n = node.get();
            Undo::Data {
                path: path.to_string(),
                data: n.data().map(Box::from),
                mzxid: n.mzxid(),
                mtime: n.mtime(),
                version: n.version(),
            }
        });
        self.totals.remove_node(path, node.get());
        node.set_data(data.as_deref());
        node.set_mzxid(ctx.zxid);
        node.set_mtime(ctx.time);
        node.set_version(version);
        self.totals.add_node(path, node.get());
        changes.push(Change {
            kind: ChangeKind::DataChanged,
            path: path.to_string(),
            acl: node.get().acl().clone(),
        });
        Ok(node.get().stat())
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        op: OpCode,
        path: &str,
        data: &Option<bytes::Bytes>,
        acl: &[jute::Acl],
        flags: i32,
        ttl: i64,
        ctx: &Ctx,
        changes: &mut Vec<Change>,
        mut undo: Option<&mut Vec<Undo>>,
    ) -> OpOutcome {
        // The node's kind comes from the flags alone, whatever the op code
        // (ZooKeeper creates a container from a plain create with flags 4).
        // Only a TTL must match: `ttl` is negative when the request had none,
        // and EphemeralType.validateTTL wants one exactly for the TTL modes.
        let mode = CreateMode::from_code(flags).ok_or(ErrorCode::BadArguments)?;
        let ttl_ok = if mode.is_ttl() {
            ttl > 0 && ttl <= MAX_TTL
        } else {
            ttl < 0
        };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        // validatePathForCreate: only the slash and NUL; the full check comes
        // after the parent lookup and the sequential suffix.
        if !path.contains('/') || path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup(acl, ctx.auth).ok_or(ErrorCode::InvalidAcl)?;
        if path == "/" {
            let root = self.nodes.get("/").ok_or(ErrorCode::NoNode)?;
            allow(root, ctx.auth, perms::CREATE)?;
            return Err(ErrorCode::NodeExists);
        }
        let parent_path = path::parent(path).to_string();
        let parent = self.nodes.get(&parent_path).ok_or(ErrorCode::NoNode)?;
        allow(parent, ctx.auth, perms::CREATE)?;
        let path = if mode.is_sequential() {
            format!("{path}{:010}", parent.cversion())
        } else {
            path.to_string()
        };
        path::validate(&path, false).map_err(|_| ErrorCode::BadArguments)?;
        if self.nodes.contains_key(&path) {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(parent.kind(), Kind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }

        // What the node is follows ZooKeeper's choice of txn: the op code
        // decides container and TTL (createContainer makes a container whatever
        // the flags), the flags decide ephemeral and sequential. A plain create
        // with container flags makes a persistent node.
        let owner = match op {
            OpCode::CreateContainer => CONTAINER_OWNER,
            OpCode::CreateTtl if mode.is_ttl() => Znode::ttl_owner(ttl),
            _ if mode.is_ephemeral() => ctx.session,
            _ => 0,
        };
        let ephemeral = owner == ctx.session && owner != 0;
        let acl = self.intern(acl);
        let mut parent = self.nodes.get_mut(&parent_path).ok_or(ErrorCode::NoNode)?;
        let (cversion, pzxid) = (parent.get().cversion(), parent.get().pzxid());
        self.totals.remove_stat(&parent_path, parent.get());
        parent.set_cversion(cversion.wrapping_add(1));
        parent.set_pzxid(ctx.zxid);
        self.totals.add_stat(&parent_path, parent.get());
        let parent_acl = parent.get().acl().clone();
        record(&mut undo, || Undo::Linked {
            parent: parent_path.clone(),
            cversion,
            pzxid,
        });
        let data = data.as_deref().map(Box::from);
        let node = Znode::new(data, acl.clone(), ctx.zxid, ctx.time, owner);
        // Also the parent's child: checked above that it is free.
        self.nodes.insert(&path, node);
        let created = self.nodes.get(&path).ok_or(ErrorCode::SystemError)?;
        let stat = created.stat();
        self.totals.add_node(&path, created);
        record(&mut undo, || Undo::Created(path.clone()));
        if ephemeral
            && let Some(s) = self.sessions.get_mut(&ctx.session)
            && s.ephemerals.insert(path.clone())
        {
            self.totals.ephemerals = self.totals.ephemerals.wrapping_add(1);
            record(&mut undo, || {
                Undo::Ephemeral(ctx.session, path.clone(), true)
            });
        }
        if matches!(Kind::of(owner), Kind::Container | Kind::Ttl(_))
            && self.reapable.insert(path.clone())
        {
            record(&mut undo, || Undo::Reapable(path.clone(), true));
        }
        changes.push(Change {
            kind: ChangeKind::Created,
            path: path.clone(),
            acl,
        });
        changes.push(Change {
            kind: ChangeKind::ChildrenChanged,
            path: parent_path,
            acl: parent_acl,
        });
        Ok(WriteResult::Created { op, path, stat })
    }

    fn delete(
        &mut self,
        path: &str,
        version: i32,
        ctx: &Ctx,
        changes: &mut Vec<Change>,
        undo: Option<&mut Vec<Undo>>,
    ) -> OpOutcome {
        // getParentPathAndValidate: a slash, no NUL, not one of ZooKeeper's own nodes.
        if !path.contains('/')
            || path.contains('\0')
            || matches!(path, "/" | super::ZOOKEEPER | super::QUOTA | super::CONFIG)
        {
            return Err(ErrorCode::BadArguments);
        }
        let parent = self
            .nodes
            .get(path::parent(path))
            .ok_or(ErrorCode::NoNode)?;
        allow(parent, ctx.auth, perms::DELETE)?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        check_version(node.version(), version)?;
        if node.num_children() > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove_node(path, ctx.zxid, changes, undo);
        Ok(WriteResult::Deleted)
    }

    /// Remove a childless node and everything that refers to it.
    fn remove_node(
        &mut self,
        path: &str,
        zxid: i64,
        changes: &mut Vec<Change>,
        mut undo: Option<&mut Vec<Undo>>,
    ) {
        let parent_path = path::parent(path).to_string();
        let Some(gone) = self.nodes.get(path) else {
            return;
        };
        self.totals.remove_node(path, gone);
        let Some(node) = self.nodes.remove(path) else {
            return;
        };
        // The stored cversion counts creations; the deletion shows through
        // the child count (see Znode::stat).
        let mut parent_acl = node.acl.clone();
        if let Some(mut parent) = self.nodes.get_mut(&parent_path) {
            let pzxid = parent.get().pzxid();
            self.totals.remove_stat(&parent_path, parent.get());
            parent.set_pzxid(zxid);
            self.totals.add_stat(&parent_path, parent.get());
            parent_acl = parent.get().acl().clone();
            record(&mut undo, || Undo::Unlinked {
                parent: parent_path.clone(),
                pzxid,
            });
        }
        if let Kind::Ephemeral(session) = node.kind()
            && let Some(s) = self.sessions.get_mut(&session)
            && s.ephemerals.remove(path)
        {
            self.totals.ephemerals = self.totals.ephemerals.wrapping_sub(1);
            record(&mut undo, || {
                Undo::Ephemeral(session, path.to_string(), false)
            });
        }
        if self.reapable.remove(path) {
            record(&mut undo, || Undo::Reapable(path.to_string(), false));
        }
        changes.push(Change {
            kind: ChangeKind::Deleted,
            path: path.to_string(),
            acl: node.acl.clone(),
        });
        changes.push(Change {
            kind: ChangeKind::ChildrenChanged,
            path: parent_path,
            acl: parent_acl,
        });
        // The node itself, moved rather than copied (it has no children).
        record(&mut undo, || Undo::Removed(path.to_string(), node));
    }

    fn reap(
        &mut self,
        path: &str,
        zxid: i64,
        time: i64,
        changes: &mut Vec<Change>,
    ) -> Result<String, ErrorCode> {
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if node.num_children() > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        if !super::reapable(node, time) {
            return Err(ErrorCode::BadArguments);
        }
        self.remove_node(path, zxid, changes, None);
        Ok(path.to_string())
    }
}

/// A create inside a multi with TTL flags but not createTTL: ZooKeeper
/// rebuilds it as a createTTL op without a TTL record and cannot read the
/// multi. (Unknown flags are read as persistent and fail later, per op.)
fn unreadable_in_multi(op: &WriteOp) -> bool {
    match op {
        WriteOp::Create { op, flags, .. } => {
            CreateMode::from_code(*flags).is_some_and(CreateMode::is_ttl)
                && *op != OpCode::CreateTtl
        }
        _ => false,
    }
}

/// ZooKeeper rebuilds a multi's creates from their flags alone: container
/// flags make a createContainer, other flags a plain create (create2 stays
/// create2, so its result keeps its Stat); a createTTL's TTL and a
/// createContainer's container-ness are dropped. Unknown flags are left for
/// the create itself to refuse.
fn rebuild_in_multi(op: &WriteOp) -> Option<WriteOp> {
    let WriteOp::Create {
        op: code, flags, ..
    } = op
    else {
        return None;
    };
    let mode = CreateMode::from_code(*flags)?;
    let rebuilt_code = match mode {
        m if m.is_ttl() => return None,
        CreateMode::Container => OpCode::CreateContainer,
        _ if *code == OpCode::Create2 => OpCode::Create2,
        _ => OpCode::Create,
    };
    let mut rebuilt = op.clone();
    if let WriteOp::Create { op, ttl, .. } = &mut rebuilt {
        *op = rebuilt_code;
        *ttl = -1;
    }
    Some(rebuilt)
}

fn valid(path: &str) -> Result<(), ErrorCode> {
    path::validate(path, false).map_err(|_| ErrorCode::BadArguments)
}

fn allow(node: Node<'_>, auth: &[Id], perm: i32) -> Result<(), ErrorCode> {
    if acl::allowed(node.acl(), auth, perm) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

/// A successful op's entry in a multi reply. From 3.9 on, create2,
/// createContainer and createTTL report the Stat as well (type create2).
fn multi_result(r: WriteResult) -> OpResult {
    match r {
        WriteResult::Created {
            op: OpCode::Create,
            path,
            ..
        } => OpResult::Create { path },
        WriteResult::Created { path, stat, .. } => OpResult::Create2 { path, stat },
        WriteResult::Deleted => OpResult::Delete,
        WriteResult::DataSet(stat) => OpResult::SetData { stat },
        // Neither occurs in a multi.
        WriteResult::AclSet(_) | WriteResult::Checked | WriteResult::Reconfigured { .. } => {
            OpResult::Check
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::txn::Origin;

    fn cmd(txn: Txn) -> Command {
        Command {
            origin: Origin::default(),
            time: 1,
            txn,
        }
    }

    fn create(tree: &mut Tree, session: i64, path: &str, flags: i32) -> Outcome {
        let op = WriteOp::Create {
            op: OpCode::Create,
            path: path.into(),
            data: None,
            acl: jute::Acl::open_unsafe(),
            flags,
            ttl: -1,
        };
        tree.apply(&cmd(Txn::Write {
            session,
            auth: vec![],
            op,
        }))
        .outcome
    }

    /// The sequential suffix is the parent's creation counter as `%010d`;
    /// like ZooKeeper's Java int it wraps past 2^31-1 to a negative number
    /// (a state no client can reach in a test run: 2^31 creates).
    #[test]
    fn sequential_counter_at_the_top_of_i32() {
        let mut tree = Tree::new();
        let Outcome::SessionCreated { session, .. } = tree
            .apply(&cmd(Txn::CreateSession {
                timeout: 30_000,
                passwd: [0; 16],
            }))
            .outcome
        else {
            panic!("no session");
        };
        create(&mut tree, session, "/p", 0);
        if let Some(mut p) = tree.nodes.get_mut("/p") {
            p.set_cversion(i32::MAX - 1);
        }
        let names: Vec<String> = (0..3)
            .map(|_| match create(&mut tree, session, "/p/s-", 2) {
                Outcome::Write(Ok(WriteResult::Created { path, .. })) => path,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            ["/p/s-2147483646", "/p/s-2147483647", "/p/s--2147483648"]
        );
    }
}
