//! Decoding and encoding the requests a server sees most, and encoding the
//! reply it sends most (getData).
//!
//! `cargo bench -p jute --bench codec` (add `-- --quick` for a short run).
//! Decode benchmarks take the frame body (no length prefix), as the codec
//! hands it over; encode benchmarks produce whole frames, prefix included.
//! Throughput is the frame size, so results read as bytes/s too.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use jute::{
    Acl, CheckVersionRequest, CreateRequest, DeleteRequest, Encode, FrameCodec, GetDataRequest,
    GetDataResponse, MultiOp, MultiRequest, Reply, ReplyHeader, Request, RequestPacket, Response,
    SetDataRequest, Stat, frame_bytes,
};
use tokio_util::codec::Encoder;

fn payload(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn get_data() -> RequestPacket {
    RequestPacket {
        xid: 17,
        request: Request::GetData(GetDataRequest {
            path: "/app/config/service-42".to_owned(),
            watch: true,
        }),
    }
}

fn create_request(path: &str, data_len: usize) -> CreateRequest {
    CreateRequest {
        path: path.to_owned(),
        data: Some(payload(data_len)),
        acl: Acl::open_unsafe(),
        flags: 0,
    }
}

fn create() -> RequestPacket {
    RequestPacket {
        xid: 18,
        // 30 characters.
        request: Request::Create(create_request("/app/services/node-0000000042", 100)),
    }
}

fn set_data() -> RequestPacket {
    RequestPacket {
        xid: 19,
        request: Request::SetData(SetDataRequest {
            path: "/app/config/service-42".to_owned(),
            data: Some(payload(1024)),
            version: -1,
        }),
    }
}

/// Ten ops: three creates, three setData, two checks, two deletes.
fn multi() -> RequestPacket {
    let mut ops = Vec::with_capacity(10);
    for i in 0..3 {
        ops.push(MultiOp::Create(create_request(
            &format!("/app/queue/item-{i:010}"),
            100,
        )));
        ops.push(MultiOp::SetData(SetDataRequest {
            path: format!("/app/state/shard-{i:04}"),
            data: Some(payload(100)),
            version: i,
        }));
    }
    for i in 0..2 {
        ops.push(MultiOp::Check(CheckVersionRequest {
            path: format!("/app/lock/owner-{i}"),
            version: 7,
        }));
        ops.push(MultiOp::Delete(DeleteRequest {
            path: format!("/app/queue/old-{i:010}"),
            version: -1,
        }));
    }
    RequestPacket {
        xid: 20,
        request: Request::Multi(MultiRequest { ops }),
    }
}

fn get_data_reply() -> Reply {
    Reply {
        header: ReplyHeader {
            xid: 17,
            zxid: 0x1_0000_2a3f,
            err: 0,
        },
        body: Some(Response::GetData(GetDataResponse {
            data: Some(payload(1024)),
            stat: Stat {
                czxid: 0x1_0000_0012,
                mzxid: 0x1_0000_2a3f,
                ctime: 1_767_225_600_000,
                mtime: 1_767_312_000_000,
                version: 42,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: 0,
                data_length: 1024,
                num_children: 0,
                pzxid: 0x1_0000_0012,
            },
        })),
    }
}

fn requests() -> [(&'static str, RequestPacket); 4] {
    [
        ("getData", get_data()),
        ("create", create()),
        ("setData", set_data()),
        ("multi10", multi()),
    ]
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, packet) in requests() {
        let frame = frame_bytes(&packet);
        let body = frame.slice(4..);
        assert_eq!(RequestPacket::decode_frame(&body).as_ref(), Ok(&packet));
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| RequestPacket::decode_frame(black_box(&body)))
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, packet) in requests() {
        bench_encode(&mut group, name, &packet);
    }
    bench_encode(&mut group, "getDataReply1k", &get_data_reply());
    group.finish();
}

/// Two ways to produce a frame: `frame_bytes`, a fresh exactly-sized buffer
/// per frame; and the connection's way, the codec's `Encoder` appending to a
/// reused write buffer that is emptied (here: cleared) once the socket has
/// taken it.
fn bench_encode<T: Encode>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, item: &T) {
    let len = frame_bytes(item).len();
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function(format!("{name}/frame_bytes"), |b| {
        b.iter(|| frame_bytes(black_box(item)))
    });
    let mut codec = FrameCodec::server();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    group.bench_function(format!("{name}/codec"), |b| {
        b.iter(|| {
            codec.encode(black_box(item), &mut buf).expect("frame fits");
            let n = buf.len();
            buf.clear();
            n
        })
    });
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
