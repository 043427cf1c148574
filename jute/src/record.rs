//! `record!` declares a jute record once: the struct, its decoder, encoder and
//! exact length all come from the one field list, in wire order, so a record
//! cannot be written one way and read another.

/// Declare one or more jute records. Fields are encoded in the order listed.
#[macro_export]
#[doc(hidden)]
macro_rules! record {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(::serde::Serialize, ::serde::Deserialize))]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        impl $crate::Jute for $name {
            // An empty record still counts as one byte so a vector count can
            // never make a decoder loop without consuming input.
            const MIN_LEN: usize = {
                let n = 0 $( + <$ty as $crate::Jute>::MIN_LEN )*;
                if n == 0 { 1 } else { n }
            };

            #[allow(unused_variables)]
            fn decode<'a>(src: &::bytes::Bytes, i: &'a [u8]) -> $crate::JResult<'a, Self> {
                $( let (i, $field) = <$ty as $crate::Jute>::decode(src, i)?; )*
                Ok((i, Self { $($field),* }))
            }
        }

        impl $crate::Encode for $name {
            #[allow(unused_variables)]
            fn encode<B: ::bytes::BufMut>(&self, buf: &mut B) {
                $( $crate::Encode::encode(&self.$field, buf); )*
            }

            fn encoded_len(&self) -> usize {
                0 $( + $crate::Encode::encoded_len(&self.$field) )*
            }
        }

        #[cfg(feature = "proptest")]
        impl $crate::arbitrary::Gen for $name {
            fn strategy() -> ::proptest::strategy::BoxedStrategy<Self> {
                use ::proptest::strategy::Strategy;
                // The leading Just(()) keeps the tuple a strategy for empty records.
                ( ::proptest::strategy::Just(()), $( <$ty as $crate::arbitrary::Gen>::strategy(), )* )
                    .prop_map(|( (), $($field,)* )| Self { $($field),* })
                    .boxed()
            }
        }
    )*};
}

/// Declare an enum of wire codes with `code()` and `from_code()`.
#[macro_export]
#[doc(hidden)]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(::serde::Serialize, ::serde::Deserialize))]
        #[repr(i32)]
        pub enum $name { $( $(#[$vmeta])* $variant = $value ),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),* ];

            /// The number on the wire.
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// The value for a wire number, if it is one of ours.
            pub const fn from_code(code: i32) -> Option<Self> {
                match code {
                    $( $value => Some($name::$variant), )*
                    _ => None,
                }
            }
        }

        impl ::core::convert::TryFrom<i32> for $name {
            type Error = i32;
            fn try_from(code: i32) -> Result<Self, i32> {
                Self::from_code(code).ok_or(code)
            }
        }

        impl From<$name> for i32 {
            fn from(value: $name) -> i32 {
                value.code()
            }
        }
    };
}
