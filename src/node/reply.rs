//! The reply a client gets for an applied write, in the form its op asks for.

use jute::{
    Create2Response, CreateResponse, Empty, ErrorCode, GetDataResponse, MultiResponse, OpCode,
    Reply, ReplyHeader, Response, StatResponse,
};

use crate::tree::{Applied, Command, Outcome, WriteResult};

pub fn for_write(cmd: &Command, applied: &Applied) -> Option<Reply> {
    let header = |err: i32| ReplyHeader {
        xid: cmd.origin.xid,
        zxid: applied.zxid,
        err,
    };
    let reply = match &applied.outcome {
        // A multi answers with its results even when it failed.
        Outcome::Multi(results) => Reply {
            header: header(0),
            body: Some(Response::Multi(MultiResponse {
                results: results.clone(),
            })),
        },
        Outcome::Write(Err(e)) => Reply {
            header: header(e.code()),
            body: None,
        },
        Outcome::Write(Ok(result)) => Reply {
            header: header(ErrorCode::Ok.code()),
            body: Some(body(result)),
        },
        _ => return None,
    };
    Some(reply)
}

fn body(result: &WriteResult) -> Response {
    match result {
        WriteResult::Created { op, path, stat } => {
            let with_stat = || Create2Response {
                path: path.clone(),
                stat: stat.clone(),
            };
            match op {
                OpCode::Create => Response::Create(CreateResponse { path: path.clone() }),
                OpCode::CreateContainer => Response::CreateContainer(with_stat()),
                OpCode::CreateTtl => Response::CreateTtl(with_stat()),
                _ => Response::Create2(with_stat()),
            }
        }
        WriteResult::Deleted => Response::Delete(Empty {}),
        WriteResult::DataSet(stat) => Response::SetData(StatResponse { stat: stat.clone() }),
        WriteResult::AclSet(stat) => Response::SetAcl(StatResponse { stat: stat.clone() }),
        WriteResult::Checked => Response::Check(Empty {}),
        WriteResult::Reconfigured { data, stat } => Response::Reconfig(GetDataResponse {
            data: Some(data.clone()),
            stat: stat.clone(),
        }),
    }
}
