//! proptest strategies for every record (feature `proptest`), so tests can
//! round-trip arbitrary values without writing a generator per record.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::multi::{MultiOp, MultiRequest, MultiResponse, OpResult};

/// A proptest strategy for a wire value.
pub trait Gen: Sized + std::fmt::Debug {
    fn strategy() -> BoxedStrategy<Self>;
}

impl Gen for i32 {
    fn strategy() -> BoxedStrategy<Self> {
        any::<i32>().boxed()
    }
}

impl Gen for i64 {
    fn strategy() -> BoxedStrategy<Self> {
        any::<i64>().boxed()
    }
}

impl Gen for bool {
    fn strategy() -> BoxedStrategy<Self> {
        any::<bool>().boxed()
    }
}

impl Gen for Option<bool> {
    fn strategy() -> BoxedStrategy<Self> {
        any::<Option<bool>>().boxed()
    }
}

impl Gen for String {
    fn strategy() -> BoxedStrategy<Self> {
        "\\PC{0,12}".boxed()
    }
}

impl Gen for Option<String> {
    fn strategy() -> BoxedStrategy<Self> {
        proptest::option::of(String::strategy()).boxed()
    }
}

impl Gen for Option<Bytes> {
    fn strategy() -> BoxedStrategy<Self> {
        proptest::option::of(vec(any::<u8>(), 0..48).prop_map(Bytes::from)).boxed()
    }
}

impl<T: Gen + 'static> Gen for Vec<T> {
    fn strategy() -> BoxedStrategy<Self> {
        vec(T::strategy(), 0..4).boxed()
    }
}

impl Gen for MultiOp {
    fn strategy() -> BoxedStrategy<Self> {
        use crate::node::*;
        prop_oneof![
            CreateRequest::strategy().prop_map(MultiOp::Create),
            CreateRequest::strategy().prop_map(MultiOp::Create2),
            CreateRequest::strategy().prop_map(MultiOp::CreateContainer),
            CreateTtlRequest::strategy().prop_map(MultiOp::CreateTtl),
            DeleteRequest::strategy().prop_map(MultiOp::Delete),
            SetDataRequest::strategy().prop_map(MultiOp::SetData),
            CheckVersionRequest::strategy().prop_map(MultiOp::Check),
            GetChildrenRequest::strategy().prop_map(MultiOp::GetChildren),
            GetDataRequest::strategy().prop_map(MultiOp::GetData),
        ]
        .boxed()
    }
}

impl Gen for OpResult {
    fn strategy() -> BoxedStrategy<Self> {
        use crate::data::Stat;
        prop_oneof![
            String::strategy().prop_map(|path| OpResult::Create { path }),
            (String::strategy(), Stat::strategy())
                .prop_map(|(path, stat)| OpResult::Create2 { path, stat }),
            Just(OpResult::Delete),
            Stat::strategy().prop_map(|stat| OpResult::SetData { stat }),
            Just(OpResult::Check),
            Vec::<String>::strategy().prop_map(|children| OpResult::GetChildren { children }),
            (Option::<Bytes>::strategy(), Stat::strategy())
                .prop_map(|(data, stat)| OpResult::GetData { data, stat }),
            any::<i32>().prop_map(|err| OpResult::Error { err }),
        ]
        .boxed()
    }
}

impl Gen for MultiRequest {
    fn strategy() -> BoxedStrategy<Self> {
        vec(MultiOp::strategy(), 0..5)
            .prop_map(|ops| MultiRequest { ops })
            .boxed()
    }
}

impl Gen for MultiResponse {
    fn strategy() -> BoxedStrategy<Self> {
        vec(OpResult::strategy(), 0..5)
            .prop_map(|results| MultiResponse { results })
            .boxed()
    }
}
