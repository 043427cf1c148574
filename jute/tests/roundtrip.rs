//! Property tests: every record encodes to exactly `encoded_len` bytes and
//! decodes back to the same value, alone and inside a whole message.

use bytes::Bytes;
use jute::arbitrary::Gen;
use jute::*;
use proptest::prelude::*;

fn check_roundtrip<T: Jute + PartialEq + std::fmt::Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = encode_to_bytes(value);
    prop_assert_eq!(
        bytes.len(),
        value.encoded_len(),
        "encoded_len disagrees with encode"
    );
    let back: T = decode_exact(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

macro_rules! roundtrip_tests {
    ($($name:ident: $ty:ty),* $(,)?) => {
        proptest! {
            $(
                #[test]
                fn $name(value in <$ty as Gen>::strategy()) {
                    check_roundtrip(&value)?;
                }
            )*
        }
    };
}

roundtrip_tests! {
    id: Id,
    acl: Acl,
    stat: Stat,
    client_info: ClientInfo,
    connect_request: ConnectRequest,
    connect_response: ConnectResponse,
    request_header: RequestHeader,
    reply_header: ReplyHeader,
    multi_header: MultiHeader,
    error_response: ErrorResponse,
    create_request: CreateRequest,
    create_ttl_request: CreateTtlRequest,
    create_response: CreateResponse,
    create2_response: Create2Response,
    delete_request: DeleteRequest,
    exists_request: ExistsRequest,
    stat_response: StatResponse,
    get_data_request: GetDataRequest,
    get_data_response: GetDataResponse,
    set_data_request: SetDataRequest,
    get_children_request: GetChildrenRequest,
    get_children_response: GetChildrenResponse,
    get_children2_response: GetChildren2Response,
    path_request: PathRequest,
    get_all_children_number_response: GetAllChildrenNumberResponse,
    check_version_request: CheckVersionRequest,
    sync_response: SyncResponse,
    get_acl_response: GetAclResponse,
    set_acl_request: SetAclRequest,
    get_ephemerals_request: GetEphemeralsRequest,
    get_ephemerals_response: GetEphemeralsResponse,
    reconfig_request: ReconfigRequest,
    watcher_event: WatcherEvent,
    set_watches: SetWatches,
    set_watches2: SetWatches2,
    add_watch_request: AddWatchRequest,
    remove_watches_request: RemoveWatchesRequest,
    auth_packet: AuthPacket,
    get_sasl_request: GetSaslRequest,
    set_sasl_response: SetSaslResponse,
    who_am_i_response: WhoAmIResponse,
    multi_request: MultiRequest,
    multi_response: MultiResponse,
}

proptest! {
    /// Every request body, framed with its header, decodes back to the same op and body.
    #[test]
    fn request_packet(xid in any::<i32>(), request in Request::strategy()) {
        let packet = RequestPacket { xid, request };
        check_roundtrip(&packet)?;
        let framed = frame_bytes(&packet);
        prop_assert_eq!(framed.len(), 4 + packet.encoded_len());
    }

    /// Every successful reply decodes back given the op it answers.
    #[test]
    fn reply_packet(xid in 1..i32::MAX, zxid in any::<i64>(), body in Response::strategy()) {
        let op = body.op_code();
        let reply = Reply { header: ReplyHeader { xid, zxid, err: 0 }, body: Some(body) };
        let bytes = encode_to_bytes(&reply);
        prop_assert_eq!(bytes.len(), reply.encoded_len());
        let back = Reply::decode_frame(&bytes, op).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(back, reply);
    }

    /// A failed request's reply is the header alone.
    #[test]
    fn error_reply(xid in 1..i32::MAX, zxid in any::<i64>(), err in i32::MIN..0) {
        let reply = Reply { header: ReplyHeader { xid, zxid, err }, body: None };
        let bytes = encode_to_bytes(&reply);
        prop_assert_eq!(bytes.len(), 16);
        let back = Reply::decode_frame(&bytes, OpCode::GetData.code()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(back, reply);
    }

    /// Any truncation of a valid encoding is an error, never a panic or a wrong value.
    #[test]
    fn truncation_is_an_error(request in Request::strategy()) {
        let packet = RequestPacket { xid: 7, request };
        let bytes = encode_to_bytes(&packet);
        for cut in 0..bytes.len() {
            let short = bytes.slice(..cut);
            prop_assert!(
                RequestPacket::decode_frame(&short).is_err(),
                "a {}-byte prefix of a {}-byte frame decoded", cut, bytes.len()
            );
        }
    }
}

#[test]
fn buffers_are_slices_of_the_frame() {
    let req = SetDataRequest {
        path: "/a".into(),
        data: Some(Bytes::from_static(b"hello world")),
        version: -1,
    };
    let frame = encode_to_bytes(&req);
    let back: SetDataRequest = decode_exact(&frame).unwrap();
    let data = back.data.unwrap();
    assert_eq!(&data[..], b"hello world");
    let inside = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(
        inside.contains(&(data.as_ptr() as usize)),
        "data was copied, not sliced"
    );
}
