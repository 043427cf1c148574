//! An in-process network for tests: nodes in one process call each other's
//! services directly, and the test cuts and heals links between them. A cut
//! link answers Unreachable, both ways, as a dropped TCP connection would.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::rpc::{BoxFuture, CallError, PeerRequest, PeerResponse, Service, Transport};
use super::types::NodeId;

#[derive(Default)]
pub struct MemNet {
    services: Mutex<HashMap<NodeId, Arc<dyn Service>>>,
    /// Cut links, as (smaller id, larger id).
    cut: Mutex<BTreeSet<(NodeId, NodeId)>>,
}

fn link(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

impl MemNet {
    pub fn new() -> Arc<Self> {
        Arc::new(MemNet::default())
    }

    /// The transport node `me` uses.
    pub fn port(self: &Arc<Self>, me: NodeId) -> Arc<dyn Transport> {
        Arc::new(Port {
            net: self.clone(),
            me,
        })
    }

    /// Cut node `node` off from every other node.
    pub fn isolate(&self, node: NodeId, all: &[NodeId]) {
        let mut cut = self.cut.lock().unwrap_or_else(|p| p.into_inner());
        for other in all.iter().filter(|o| **o != node) {
            cut.insert(link(node, *other));
        }
    }

    pub fn cut(&self, a: NodeId, b: NodeId) {
        self.cut
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(link(a, b));
    }

    /// Restore every link.
    pub fn heal(&self) {
        self.cut.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn is_cut(&self, a: NodeId, b: NodeId) -> bool {
        self.cut
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&link(a, b))
    }
}

struct Port {
    net: Arc<MemNet>,
    me: NodeId,
}

impl Transport for Port {
    fn serve(&self, service: Arc<dyn Service>) -> BoxFuture<std::io::Result<()>> {
        self.net
            .services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.me, service);
        Box::pin(async { Ok(()) })
    }

    fn call(&self, to: NodeId, req: PeerRequest) -> BoxFuture<Result<PeerResponse, CallError>> {
        let me = self.me;
        if self.net.is_cut(me, to) {
            return Box::pin(async move { Err(CallError::Unreachable(format!("{me}-{to} cut"))) });
        }
        let service = self
            .net
            .services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&to)
            .cloned();
        let Some(service) = service else {
            return Box::pin(async move { Err(CallError::Unreachable(format!("{to} is down"))) });
        };
        let answer = service.handle(me, req);
        let net = self.net.clone();
        Box::pin(async move {
            let rsp = answer.await;
            // Cut while the request was out: the answer is lost.
            if net.is_cut(me, to) {
                return Err(CallError::Unreachable(format!("{me}-{to} cut")));
            }
            Ok(rsp)
        })
    }

    fn close(&self) {
        self.net
            .services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.me);
    }
}
